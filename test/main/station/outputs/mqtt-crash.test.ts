// The station killed mid-burst (SIGKILL, a real `station watch --mqtt` child process) and restarted: every
// image still reaches the MQTT subscriber, in commit order once duplicates are dropped by id, the broker
// publishes the last will ("offline") when the station dies, and the outbox ends empty.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../../src/main/station/database';
import { OutboxStore } from '../../../../src/main/station/outputs/outbox-store';
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
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (!mosquitto) return;
  modelDir = await trainTinyModel(t.dir);
  broker = await startMosquitto(join(t.dir, 'broker'));
}, 180_000);
afterAll(async () => {
  children.forEach((c) => c.kill('SIGKILL'));
  await broker?.stop();
  t.cleanup();
});

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

describe.skipIf(!mosquitto)('MQTT output across a kill -9 (real mosquitto, real station process)', () => {
  it('the station SIGKILLed mid-burst and restarted: still every message', async () => {
    const cam = join(t.dir, 'cam3');
    const data = join(t.dir, 'data3');
    mkdirSync(cam);
    const sub = await subscriber(broker.url, ['t3/#']);
    const watch = () => {
      const c = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          resolve('src/main/cli/index.ts'),
          'watch',
          cam,
          '--model',
          modelDir,
          '--data-dir',
          data,
          '--backend',
          'wasm',
          '--mqtt',
          broker.url,
          '--mqtt-topic',
          't3',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      c.stdout!.resume();
      c.stderr!.resume();
      children.push(c);
      return c;
    };
    const N = 200;
    const first = watch();
    await waitFor(
      'the station online (retained status)',
      () => sub.messages.some((m) => m.topic === 't3/cam3/status' && m.json.state === 'online'),
      60_000,
    );
    await burst(cam, N, 40_000);
    const topic = 't3/cam3/inspection';
    await waitFor('some messages', () => inspectionMessages(sub.messages, topic).length >= 20, 120_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    // The broker publishes the last will: the line is offline.
    await waitFor('the last will', () =>
      sub.messages.some((m) => m.topic === 't3/cam3/status' && m.json.state === 'offline'),
    );
    const dbFile = join(data, 'station.db');
    const before = (() => {
      const db = openDatabase(dbFile);
      try {
        return db.countInspections();
      } finally {
        db.close();
      }
    })();
    expect(before).toBeLessThan(N); // it really died mid-burst

    const second = watch();
    await waitFor(
      `all ${N} ids`,
      () => new Set(inspectionMessages(sub.messages, topic).map((m) => m.id)).size >= N,
      180_000,
    );
    second.kill('SIGINT');
    await new Promise((r) => second.once('exit', r));

    const db = openDatabase(dbFile);
    try {
      const rows = [...db.iterateInspections()];
      expect(rows).toHaveLength(N);
      const { order, duplicates } = firstArrivals(
        inspectionMessages(sub.messages, topic).map((m) => m.id as number),
      );
      expect([...order].sort((a, b) => a - b)).toEqual(rows.map((r) => r.id).sort((a, b) => a - b));
      expect(ascending(order)).toBe(true);
      console.log(
        `station kill -9: ${duplicates} duplicate message(s) (acknowledged but not yet marked sent)`,
      );
      const store = new OutboxStore(db);
      const out = store.listOutputs()[0];
      expect(store.backlog(out.id)).toBe(0);
      expect(db.integrityCheck()).toBe('ok');
    } finally {
      db.close();
    }
    await sub.close();
  }, 400_000);
});
