// MQTT output against a real broker (Debian's mosquitto, started by the test on a free loopback port) and a
// real station (tiny model, real folders, real SQLite): a burst of 200 images gives exactly 200 inspection
// messages, each id once, in order; the broker stopped and restarted mid-burst still gives all 200 in order;
// wrong credentials show as the output's error state and lose nothing. Also the retained status with its
// last will, decision messages, and the configuration checks. (The station killed mid-burst: mqtt-crash.test.ts.)
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StationApi, StationEvent, OutputSummary } from '../../../../src/common/api';
import { validated } from '../../../../src/main/station/in-process';
import { Station } from '../../../../src/main/station/station';
import { tempDir } from '../../../helpers/fixtures';
import {
  findMosquitto,
  startMosquitto,
  subscriber,
  type Broker,
  type Received,
} from '../../../helpers/mosquitto';
import { trainTinyModel, waitFor, writePart } from '../../../helpers/station-fixtures';

const mosquitto = findMosquitto();
if (!mosquitto)
  console.warn('mqtt tests skipped: mosquitto is not installed (apt install mosquitto; .ci/run does)');

const t = tempDir();
let modelDir: string;
let broker: Broker;

beforeAll(async () => {
  if (!mosquitto) return;
  modelDir = await trainTinyModel(t.dir);
  broker = await startMosquitto(join(t.dir, 'broker'));
}, 180_000);
afterAll(async () => {
  await broker?.stop();
  t.cleanup();
});

async function openStation(name: string) {
  const station = await Station.open({ dataDir: join(t.dir, name), backend: 'wasm', settleMs: 150 });
  const api: StationApi = validated(station);
  const events: StationEvent[] = [];
  station.onEvent((e) => events.push(e));
  return { station, api, events };
}

/** `n` parts written in a staging folder, then all moved into the camera folder at once. */
async function burst(cam: string, n: number, seed: number): Promise<void> {
  const staging = `${cam}-staging`;
  mkdirSync(staging, { recursive: true });
  for (let i = 0; i < n; i++)
    await writePart(join(staging, `p${String(i).padStart(3, '0')}.png`), seed + i, i % 7 === 0);
  for (const f of readdirSync(staging)) renameSync(join(staging, f), join(cam, f));
}

const inspectionMessages = (messages: Received[], topic: string) =>
  messages.filter((m) => m.topic === topic).map((m) => m.json);

/** The ids in first-arrival order (duplicates dropped, as a consumer does), and how many were duplicates. */
function firstArrivals(ids: number[]): { order: number[]; duplicates: number } {
  const seen = new Set<number>();
  const order: number[] = [];
  for (const id of ids) {
    if (seen.has(id)) continue;
    seen.add(id);
    order.push(id);
  }
  return { order, duplicates: ids.length - order.length };
}

const ascending = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1] < x);

async function outputOf(api: StationApi, lineId: number): Promise<OutputSummary> {
  return (await api.listOutputs({})).find((o) => o.lineId === lineId)!;
}

describe.skipIf(!mosquitto)('MQTT output (real mosquitto)', () => {
  it('a burst of 200 images gives exactly 200 inspection messages, each id once, in commit order; status is retained with a last will; decisions are published', async () => {
    const cam = join(t.dir, 'cam1');
    mkdirSync(cam);
    const sub = await subscriber(broker.url, ['t1/#']);
    const { station, api } = await openStation('data1');
    const model = await api.registerModel({ folder: modelDir });
    const line = await api.addLine({ name: 'line-1', folder: cam, modelId: model.id });
    const set = await api.setMqttOutput({ lineId: line.id, url: broker.url, topicPrefix: 't1' });
    expect(set).toMatchObject({ kind: 'mqtt', mqtt: { qos: 1, topicPrefix: 't1', hasPassword: false } });
    await waitFor('the output connected', async () => (await outputOf(api, line.id)).state === 'connected');

    await burst(cam, 200, 20_000);
    await waitFor(
      '200 inspection messages',
      () => inspectionMessages(sub.messages, 't1/line-1/inspection').length >= 200,
      180_000,
    );
    await station.idle();

    const rows = (await api.queryInspections({ limit: 1000 })).rows;
    expect(rows).toHaveLength(200);
    const msgs = inspectionMessages(sub.messages, 't1/line-1/inspection');
    expect(msgs).toHaveLength(200);
    const ids = msgs.map((m) => m.id as number);
    expect(new Set(ids).size).toBe(200);
    expect(ascending(ids)).toBe(true); // commit order (ids grow with each committed row)
    expect([...ids].sort((a, b) => a - b)).toEqual(rows.map((r) => r.id).sort((a, b) => a - b));
    // Each message says what the row says.
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const m of msgs) {
      const r = byId.get(m.id as number)!;
      expect(m).toMatchObject({
        type: 'inspection',
        line: 'line-1',
        lineId: line.id,
        file: r.filePath,
        sha256: r.sha256,
        score: r.rawScore,
        normalizedScore: r.normalizedScore,
        threshold: r.threshold,
        verdict: r.verdict,
        modelVersion: r.modelVersion,
        time: r.scoredAt,
      });
    }
    // The subscriber can have a message before the station has its acknowledgement: wait for the marks.
    await waitFor('every message marked sent', async () => (await outputOf(api, line.id)).backlog === 0);
    expect(await outputOf(api, line.id)).toMatchObject({ backlog: 0, sent: 200, state: 'connected' });

    // The line's status: retained, online, what the Lines view shows.
    const status = sub.messages.filter((m) => m.topic === 't1/line-1/status');
    expect(status.at(-1)?.json).toMatchObject({ type: 'status', state: 'online', status: 'watching' });

    // A decision is announced on its own topic, carrying both ids.
    await api.signIn({ name: 'anna' });
    const flagged = rows.find((r) => r.verdict === 'flag')!;
    const d = await api.decide({ inspectionId: flagged.id, decision: 'defect', comment: 'burr' });
    await waitFor('the decision message', () => sub.messages.some((m) => m.topic === 't1/line-1/decision'));
    expect(sub.messages.find((m) => m.topic === 't1/line-1/decision')!.json).toMatchObject({
      type: 'decision',
      id: d.id,
      inspectionId: flagged.id,
      decision: 'defect',
      operator: 'anna',
      comment: 'burr',
    });

    await station.close();
    await sub.close();
    // After a clean stop the retained status says offline (what a late subscriber sees first).
    const late = await subscriber(broker.url, ['t1/line-1/status']);
    await waitFor('the retained status', () => late.messages.length > 0);
    expect(late.messages[0]).toMatchObject({ retain: true, json: { state: 'offline', line: 'line-1' } });
    await late.close();
  }, 300_000);

  it('the broker stopped mid-burst and restarted: still every message, in order', async () => {
    const cam = join(t.dir, 'cam2');
    mkdirSync(cam);
    // A persistent session: the broker keeps this subscriber's messages across its own restart.
    const sub = await subscriber(broker.url, ['t2/#'], { clientId: 'test-t2-subscriber' });
    const { station, api, events } = await openStation('data2');
    const model = await api.registerModel({ folder: modelDir });
    const line = await api.addLine({ name: 'line-2', folder: cam, modelId: model.id });
    await api.setMqttOutput({ lineId: line.id, url: broker.url, topicPrefix: 't2' });
    await waitFor('the output connected', async () => (await outputOf(api, line.id)).state === 'connected');

    await burst(cam, 200, 30_000);
    await waitFor(
      '30 messages',
      () => inspectionMessages(sub.messages, 't2/line-2/inspection').length >= 30,
      120_000,
    );
    await broker.stop();
    // The output notices the broker is gone (on a loaded machine the client may take a moment to see the
    // socket close), and the station keeps scoring and committing meanwhile: the backlog grows.
    await waitFor(
      'the output disconnected',
      async () => (await outputOf(api, line.id)).state === 'disconnected',
      30_000,
    );
    await waitFor(
      'a backlog while the broker is down',
      async () => (await outputOf(api, line.id)).backlog >= 20,
      120_000,
    );
    const down = await outputOf(api, line.id);
    expect(down.state).toBe('disconnected');
    await broker.start();
    await waitFor(
      'all 200 ids at the subscriber',
      () => new Set(inspectionMessages(sub.messages, 't2/line-2/inspection').map((m) => m.id)).size >= 200,
      180_000,
    );
    await station.idle();
    const rows = (await api.queryInspections({ limit: 1000 })).rows;
    expect(rows).toHaveLength(200);
    const { order, duplicates } = firstArrivals(
      inspectionMessages(sub.messages, 't2/line-2/inspection').map((m) => m.id as number),
    );
    expect([...order].sort((a, b) => a - b)).toEqual(rows.map((r) => r.id).sort((a, b) => a - b));
    expect(ascending(order)).toBe(true);
    console.log(
      `broker restart: ${duplicates} duplicate message(s) (sent again after the reconnect; dropped by id)`,
    );
    expect(events.some((e) => e.type === 'output-status' && e.output.state === 'disconnected')).toBe(true);
    await waitFor('backlog 0', async () => (await outputOf(api, line.id)).backlog === 0);
    await station.close();
    await sub.close();
  }, 400_000);

  it('wrong credentials: the output says the broker refused them, and nothing is lost once they are right', async () => {
    const secure = await startMosquitto(join(t.dir, 'broker-auth'), {
      users: { station: 'right-pw-1', reader: 'reader-pw' },
    });
    try {
      const cam = join(t.dir, 'cam4');
      mkdirSync(cam);
      const sub = await subscriber(secure.url, ['t4/#'], { username: 'reader', password: 'reader-pw' });
      const { station, api, events } = await openStation('data4');
      const model = await api.registerModel({ folder: modelDir });
      const line = await api.addLine({ name: 'line-4', folder: cam, modelId: model.id });
      const responses: unknown[] = [];
      responses.push(
        await api.setMqttOutput({
          lineId: line.id,
          url: secure.url,
          topicPrefix: 't4',
          username: 'station',
          password: 'wrong-pw-2',
        }),
      );
      await waitFor('the error state', async () => (await outputOf(api, line.id)).state === 'error');
      const out = await outputOf(api, line.id);
      responses.push(out);
      expect(out.stateText).toMatch(/refused the connection: .*(credentials|not authorized)/);
      expect(out).toMatchObject({ kind: 'mqtt', mqtt: { username: 'station', hasPassword: true } });

      await burst(cam, 20, 50_000);
      await waitFor(
        '20 rows',
        async () => (await api.queryInspections({ limit: 100 })).rows.length >= 20,
        120_000,
      );
      await station.idle();
      await waitFor('backlog 20', async () => (await outputOf(api, line.id)).backlog === 20);
      expect(inspectionMessages(sub.messages, 't4/line-4/inspection')).toEqual([]);

      // Only the password changes; everything else is kept.
      responses.push(await api.setMqttOutput({ lineId: line.id, url: secure.url, password: 'right-pw-1' }));
      await waitFor(
        '20 messages',
        () => inspectionMessages(sub.messages, 't4/line-4/inspection').length >= 20,
      );
      const ids = inspectionMessages(sub.messages, 't4/line-4/inspection').map((m) => m.id as number);
      expect(ids).toHaveLength(20);
      expect(ascending(ids)).toBe(true);
      await waitFor('every message marked sent', async () => (await outputOf(api, line.id)).backlog === 0);
      expect(await outputOf(api, line.id)).toMatchObject({ state: 'connected', backlog: 0 });
      responses.push(await api.listOutputs({}));
      // The passwords never leave the station: not in a response, not in an event.
      const seen = JSON.stringify([responses, events]);
      expect(seen).not.toContain('wrong-pw-2');
      expect(seen).not.toContain('right-pw-1');
      await station.close();
      await sub.close();
    } finally {
      await secure.stop();
    }
  }, 300_000);

  it('refuses a broker URL with credentials in it, or a wildcard topic prefix', async () => {
    const { station, api } = await openStation('data5');
    const cam = join(t.dir, 'cam5');
    mkdirSync(cam);
    const model = await api.registerModel({ folder: modelDir });
    const line = await api.addLine({ name: 'line-5', folder: cam, modelId: model.id });
    await expect(api.setMqttOutput({ lineId: line.id, url: 'mqtt://u:p@127.0.0.1:1883' })).rejects.toThrow(
      /user name and password in their own fields/,
    );
    await expect(api.setMqttOutput({ lineId: line.id, url: 'http://127.0.0.1' })).rejects.toThrow(
      /mqtt:\/\//,
    );
    await expect(api.setMqttOutput({ lineId: line.id, url: broker.url, topicPrefix: 'a/#' })).rejects.toThrow(
      /topic prefix/,
    );
    await expect(api.setMqttOutput({ lineId: 999, url: broker.url })).rejects.toThrow(/not found/);
    expect(await api.listOutputs({})).toEqual([]);
    await station.close();
  }, 60_000);
});
