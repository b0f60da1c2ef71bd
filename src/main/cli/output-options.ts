// The plant outputs on the command line: `station watch ... --mqtt URL [--mqtt-topic PREFIX]` gives the
// watched line an MQTT output, `station serve --opcua-port N` starts the station's OPC UA server. Both are
// stored like the UI's settings (the next run keeps them). Passwords come from the environment, never from
// argv (which every user of the machine can read in the process list).
import { randomBytes } from 'node:crypto';
import type { OpcuaOutputSummary, OutputSummary, StationApi, StationEvent } from '../../common/api';
import { numberOption, UsageError, type OptionTable, type OptionValues } from './args';

export const MQTT_OPTIONS = {
  mqtt: {
    type: 'string',
    value: 'URL',
    help: "publish the line's verdicts to this MQTT broker (mqtt://host:1883, mqtts://...; QoS 1)",
  },
  'mqtt-topic': {
    type: 'string',
    value: 'PREFIX',
    help: 'topic prefix (default anomaly-station): PREFIX/<line>/inspection, /decision, /status',
  },
  'mqtt-user': {
    type: 'string',
    value: 'NAME',
    help: 'broker user name; the password comes from env STATION_MQTT_PASSWORD',
  },
} as const satisfies OptionTable;

export const OPCUA_OPTIONS = {
  'opcua-port': {
    type: 'string',
    value: 'N',
    help: "serve every line's verdicts on OPC UA on this port (Sign&Encrypt, the station's own certificate)",
  },
  'opcua-host': {
    type: 'string',
    value: 'HOST',
    help: 'address the OPC UA server listens on (default 127.0.0.1)',
  },
  'opcua-user': {
    type: 'string',
    value: 'NAME',
    help: 'OPC UA user (default plc); password from env STATION_OPCUA_PASSWORD, else one is made and printed',
  },
  'opcua-anonymous': { type: 'boolean', help: 'also allow anonymous OPC UA sessions' },
} as const satisfies OptionTable;

/** A usage error for MQTT options that make no sense together (before the command does anything). */
export function checkMqttOptions(values: OptionValues<typeof MQTT_OPTIONS>, command: string): void {
  if (!values.mqtt && (values['mqtt-topic'] || values['mqtt-user']))
    throw new UsageError('--mqtt-topic and --mqtt-user need --mqtt URL', command);
}

/** A usage error for OPC UA options that make no sense (before the command does anything). */
export function checkOpcuaOptions(values: OptionValues<typeof OPCUA_OPTIONS>, command: string): void {
  const port = numberOption(values['opcua-port'], 'opcua-port', command);
  if (port === undefined) {
    if (values['opcua-host'] || values['opcua-user'] || values['opcua-anonymous'])
      throw new UsageError('--opcua-host, --opcua-user and --opcua-anonymous need --opcua-port N', command);
  } else if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError('--opcua-port must be a port number (0-65535)', command);
}

/** Give line `lineId` the MQTT output the options ask for (nothing when --mqtt is absent). */
export async function applyMqttOptions(
  api: StationApi,
  lineId: number,
  values: OptionValues<typeof MQTT_OPTIONS>,
  command: string,
): Promise<void> {
  checkMqttOptions(values, command);
  if (!values.mqtt) return;
  await api.setMqttOutput({
    lineId,
    url: values.mqtt,
    topicPrefix: values['mqtt-topic'],
    username: values['mqtt-user'],
    password: process.env.STATION_MQTT_PASSWORD || undefined,
    enabled: true,
  });
}

/**
 * Start the OPC UA server the options ask for (nothing when --opcua-port is absent). Without anonymous access
 * and with no password stored or given, one is made: the returned text says it once.
 */
export async function applyOpcuaOptions(
  api: StationApi,
  values: OptionValues<typeof OPCUA_OPTIONS>,
  command: string,
): Promise<string | null> {
  checkOpcuaOptions(values, command);
  const port = numberOption(values['opcua-port'], 'opcua-port', command);
  if (port === undefined) return null;
  const stored = (await api.listOutputs({})).find((o): o is OpcuaOutputSummary => o.kind === 'opcua');
  const username = values['opcua-user'] ?? stored?.opcua.username ?? 'plc';
  let password = process.env.STATION_OPCUA_PASSWORD || undefined;
  let made: string | null = null;
  const sameUser = stored?.opcua.username === username && stored.opcua.hasPassword;
  if (!password && !sameUser) {
    password = randomBytes(12).toString('base64url');
    made = `OPC UA user "${username}", password ${password} (made now and stored; set STATION_OPCUA_PASSWORD to choose one)`;
  }
  await api.setOpcuaOutput({
    port,
    host: values['opcua-host'],
    username,
    password,
    allowAnonymous: values['opcua-anonymous'],
    enabled: true,
  });
  return made;
}

/** One line per output whose state changed (connected, disconnected, error ...), for the terminal. */
export function outputStateLines(): (e: StationEvent) => string | null {
  const last = new Map<number, string>();
  return (e) => {
    if (e.type !== 'output-status') return null;
    const o: OutputSummary = e.output;
    const key = `${o.state}\0${o.stateText}`;
    if (last.get(o.id) === key) return null;
    last.set(o.id, key);
    const what = o.kind === 'mqtt' ? `mqtt ${o.lineName ?? o.lineId}` : 'opcua';
    return `[${what}: ${o.state}] ${o.stateText}${o.backlog ? ` (backlog ${o.backlog})` : ''}`;
  };
}
