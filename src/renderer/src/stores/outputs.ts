// The plant outputs (MQTT per line, the station's OPC UA server): configuration, state and backlog. Loaded
// once, then kept current by output-status events. Passwords are only ever sent, never received: the station
// says whether one is stored.
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { OutputSummary, Requests } from '../../../common/api';
import { station } from '../station';
import { attempt } from './session';

export const useOutputs = defineStore('outputs', () => {
  const outputs = ref<OutputSummary[]>([]);
  const loaded = ref(false);

  function upsert(o: OutputSummary): OutputSummary {
    const i = outputs.value.findIndex((x) => x.id === o.id);
    outputs.value = i < 0 ? [...outputs.value, o] : outputs.value.map((x) => (x.id === o.id ? o : x));
    return o;
  }

  async function load(): Promise<void> {
    await attempt('outputs', async () => {
      outputs.value = await station.listOutputs({});
      loaded.value = true;
    });
  }

  station.onEvent((e) => {
    if (e.type === 'output-status') upsert(e.output);
  });

  const setMqtt = (req: Requests['setMqttOutput']) =>
    attempt('mqttOutput', async () => upsert(await station.setMqttOutput(req)));
  const setOpcua = (req: Requests['setOpcuaOutput']) =>
    attempt('opcuaServer', async () => upsert(await station.setOpcuaOutput(req)));
  const remove = (id: number) =>
    attempt('removeOutput', async () => {
      await station.removeOutput({ id });
      outputs.value = outputs.value.filter((o) => o.id !== id);
      return true;
    });
  const trust = (thumbprint: string) =>
    attempt('trustClient', async () => upsert(await station.trustOpcuaClient({ thumbprint })));

  return { outputs, loaded, load, setMqtt, setOpcua, remove, trust };
});
