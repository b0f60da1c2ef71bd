// The plant outputs benchmark: what MQTT and OPC UA output add to the station, measured through the real
// station (chokidar, scoring worker, PNG artifacts, SQLite with the outbox triggers), a real mosquitto and a
// real OPC UA client, against the same station with outputs off in the same run.
//
//   npm run bench:outputs -- [--rate 5] [--steady 100] [--burst 200] [--reps 5] [--rows 20000] [--out bench/results]
//
// 1. Latency at a steady --rate (images/s): file renamed into the camera folder -> row committed (outputs off,
//    the reference, and on) -> message at an MQTT subscriber (QoS 1) -> data change at an OPC UA client
//    (Sign&Encrypt, subscription publishing interval as revised by the server). p50 / p95.
// 2. Throughput cost: a burst of --burst images, outputs off vs on (MQTT + OPC UA), --reps times in
//    alternating order; images/s to the last commit (and, with outputs on, to the last MQTT message).
// 3. The outbox write alone: --rows inspection rows inserted with 0, 1 and 2 outputs configured (the triggers'
//    cost, nothing delivered), rows/s, --reps times.
// The subscribers run in this process (at 5 images/s the event loop is mostly idle; stated in the results).
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  type ClientSession,
  type DataValue,
} from 'node-opcua';
import { openDatabase } from '../src/main/station/database';
import { STATION_NAMESPACE } from '../src/main/station/outputs/opcua-server';
import { OutboxStore } from '../src/main/station/outputs/outbox-store';
import { Station } from '../src/main/station/station';
import type { OpcuaOutputSummary, StationEvent } from '../src/common/api';
import { findMosquitto, startMosquitto, subscriber } from '../test/helpers/mosquitto';
import { trainTinyModel, waitFor, writePart } from '../test/helpers/station-fixtures';
import { describeMachine, summarize, type Summary } from './common';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '5' },
    steady: { type: 'string', default: '100' },
    burst: { type: 'string', default: '200' },
    reps: { type: 'string', default: '5' },
    rows: { type: 'string', default: '20000' },
    out: { type: 'string', default: 'bench/results' },
    work: { type: 'string', default: join(os.tmpdir(), `station-bench-outputs-${process.pid}`) },
  },
});
const rate = Number(values.rate);
const steadyN = Number(values.steady);
const burstN = Number(values.burst);
const reps = Number(values.reps);
const rowsN = Number(values.rows);
const work = values.work;
mkdirSync(work, { recursive: true });

const now = () => performance.now();
const pct = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};
const ms = (v: number) => `${v.toFixed(0)} ms`;
const spread = (s: Summary, f = (v: number) => v.toFixed(1)) => `${f(s.median)} (${f(s.min)}-${f(s.max)})`;

interface Timings {
  dropped: Map<string, number>;
  committed: Map<string, number>;
  idOf: Map<number, string>;
  mqtt: Map<string, number>;
  opcua: Map<string, number>;
}

const timings = (): Timings => ({
  dropped: new Map(),
  committed: new Map(),
  idOf: new Map(),
  mqtt: new Map(),
  opcua: new Map(),
});

let broker: Awaited<ReturnType<typeof startMosquitto>>;
let modelDir: string;
let runNo = 0;

/** A station with one line, outputs on or off, and the clients that time what arrives. */
async function setup(outputs: boolean) {
  runNo += 1;
  const dir = join(work, `run-${runNo}`);
  const cam = join(dir, 'cam');
  const staging = join(dir, 'staging');
  mkdirSync(cam, { recursive: true });
  mkdirSync(staging, { recursive: true });
  const station = await Station.open({ dataDir: join(dir, 'data'), backend: 'wasm', settleMs: 100 });
  const model = await station.registerModel({ folder: modelDir });
  const line = await station.addLine({ name: `bench-${runNo}`, folder: cam, modelId: model.id });
  let t = timings();
  station.onEvent((e: StationEvent) => {
    if (e.type !== 'inspection') return;
    t.committed.set(e.inspection.filePath, now());
    t.idOf.set(e.inspection.id, e.inspection.filePath);
  });
  await waitFor(
    'the line watching',
    async () => {
      const s = (await station.listLines({})).find((l) => l.id === line.id)!;
      if (s.status === 'error') throw new Error(s.statusText);
      return s.status === 'watching' && s.engine;
    },
    120_000,
  );
  const closers: (() => Promise<unknown>)[] = [];
  let revisedPublishingMs: number | null = null;
  if (outputs) {
    const sub = await subscriber(broker.url, [`bench${runNo}/#`]);
    const seen = sub.messages;
    const timer = setInterval(() => {
      for (const m of seen.splice(0))
        if (m.json.type === 'inspection') t.mqtt.set(m.json.file as string, m.at);
    }, 5);
    closers.push(async () => clearInterval(timer), sub.close);
    await station.setMqttOutput({ lineId: line.id, url: broker.url, topicPrefix: `bench${runNo}` });
    await station.setOpcuaOutput({ port: 0, username: 'plc', password: 'bench-password' });
    const out = (await waitFor('OPC UA listening', async () => {
      const o = (await station.listOutputs()).find((x) => x.kind === 'opcua') as OpcuaOutputSummary;
      return o.state === 'listening' && o;
    })) as OpcuaOutputSummary;
    const pki = join(dir, 'plc-pki');
    const client = OPCUAClient.create({
      securityMode: MessageSecurityMode.SignAndEncrypt,
      securityPolicy: SecurityPolicy.Basic256Sha256,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0 },
      clientCertificateManager: new OPCUACertificateManager({
        rootFolder: pki,
        automaticallyAcceptUnknownCertificate: true,
      }),
    });
    const user = { type: UserTokenType.UserName, userName: 'plc', password: 'bench-password' } as const;
    // First contact: the station refuses the unknown certificate; trust it as a person would.
    await client
      .connect(out.opcua.endpointUrl!)
      .then(() => client.createSession(user))
      .catch(() => undefined);
    await client.disconnect();
    for (const c of (await station.listOutputs()).flatMap((o) =>
      o.kind === 'opcua' ? o.opcua.rejectedClients : [],
    ))
      await station.trustOpcuaClient({ thumbprint: c.thumbprint });
    await client.connect(out.opcua.endpointUrl!);
    const session: ClientSession = await client.createSession(user);
    const ns = (await session.readNamespaceArray()).indexOf(STATION_NAMESPACE);
    const sub2 = ClientSubscription.create(session, {
      requestedPublishingInterval: 50,
      requestedMaxKeepAliveCount: 20,
      requestedLifetimeCount: 600,
      publishingEnabled: true,
    });
    await new Promise<void>((r) => sub2.once('started', () => r()));
    revisedPublishingMs = sub2.publishingInterval;
    const item = ClientMonitoredItem.create(
      sub2,
      { nodeId: `ns=${ns};s=line/${line.id}/LastInspectionId`, attributeId: AttributeIds.Value },
      { samplingInterval: 0, discardOldest: true, queueSize: 1000 },
      TimestampsToReturn.Neither,
    );
    item.on('changed', (v: DataValue) => {
      const at = now();
      const file = t.idOf.get(v.value.value as number);
      if (file) t.opcua.set(file, at);
    });
    closers.push(
      () => sub2.terminate(),
      () => session.close(),
      () => client.disconnect(),
    );
  }
  let seq = 0;
  /** Stage `n` parts (written before the clock starts), for dropping later. */
  const stage = async (n: number): Promise<string[]> => {
    const names: string[] = [];
    for (let i = 0; i < n; i++) {
      const name = `p${runNo}-${seq++}.png`;
      await writePart(join(staging, name), 5000 + seq, seq % 7 === 0);
      names.push(name);
    }
    return names;
  };
  const drop = (name: string) => {
    const file = join(cam, name);
    t.dropped.set(file, now());
    renameSync(join(staging, name), file);
  };
  return {
    station,
    lineId: line.id,
    revisedPublishingMs,
    get t() {
      return t;
    },
    reset: () => (t = timings()),
    stage,
    drop,
    close: async () => {
      for (const c of closers.reverse()) await c().catch(() => undefined);
      await station.close();
    },
  };
}

async function steady(outputs: boolean) {
  const s = await setup(outputs);
  const names = await s.stage(steadyN);
  const t0 = now();
  for (let i = 0; i < steadyN; i++) {
    // On a schedule (not sleep-after-drop), so the rate is the rate.
    const due = t0 + (i * 1000) / rate;
    while (now() < due) await new Promise((r) => setTimeout(r, Math.max(0, due - now())));
    s.drop(names[i]);
  }
  await waitFor('every commit', () => s.t.committed.size >= steadyN, 300_000);
  if (outputs)
    await waitFor('every message', () => s.t.mqtt.size >= steadyN && s.t.opcua.size >= steadyN, 120_000);
  const t = s.t;
  const lat = (to: Map<string, number>, from = t.dropped) =>
    [...to].filter(([f]) => from.has(f)).map(([f, at]) => at - from.get(f)!);
  const r = {
    fileToCommit: lat(t.committed),
    fileToMqtt: lat(t.mqtt),
    fileToOpcua: lat(t.opcua),
    commitToMqtt: lat(t.mqtt, t.committed),
    commitToOpcua: lat(t.opcua, t.committed),
    revisedPublishingMs: s.revisedPublishingMs,
  };
  await s.close();
  return r;
}

async function burst(outputs: boolean) {
  const s = await setup(outputs);
  const names = await s.stage(burstN);
  const t0 = now();
  for (const n of names) s.drop(n);
  await waitFor('every commit', () => s.t.committed.size >= burstN, 600_000);
  const lastCommit = Math.max(...s.t.committed.values());
  let lastMessage = NaN;
  if (outputs) {
    await waitFor('every message', () => s.t.mqtt.size >= burstN, 300_000);
    lastMessage = Math.max(...s.t.mqtt.values());
  }
  await s.close();
  return {
    commitsPerSecond: burstN / ((lastCommit - t0) / 1000),
    messagesPerSecond: outputs ? burstN / ((lastMessage - t0) / 1000) : NaN,
  };
}

/** Inspection rows inserted with `outputs` outputs configured (nothing sent): the outbox triggers' cost. */
function outboxWrites(outputs: 0 | 1 | 2): number {
  const dir = join(work, `db-${outputs}-${Math.random().toString(16).slice(2)}`);
  const db = openDatabase(join(dir, 'station.db'));
  try {
    const line = db.addLine({ name: 'L', folder: '/camera/l' });
    const store = new OutboxStore(db);
    if (outputs >= 1)
      store.saveOutput({ kind: 'mqtt', lineId: line.id, enabled: true, decisions: true, config: {} });
    if (outputs >= 2)
      store.saveOutput({ kind: 'opcua', lineId: null, enabled: true, decisions: false, config: {} });
    const t0 = now();
    for (let i = 0; i < rowsN; i++)
      db.insertInspection({
        lineId: line.id,
        modelId: null,
        modelVersion: 'v1',
        filePath: `/camera/l/${i}.png`,
        fileSize: 1000 + i,
        fileMtimeMs: 1_700_000_000_000 + i,
        sha256: 'ab'.repeat(32),
        receivedAt: 1_700_000_000_000 + i,
        scoredAt: 1_700_000_000_000 + i,
        rawScore: 0.5,
        normalizedScore: 0.4,
        threshold: 0.6,
        verdict: 'pass',
      });
    const rps = rowsN / ((now() - t0) / 1000);
    if (outputs && new OutboxStore(db).backlog(1) !== rowsN) throw new Error('outbox rows missing');
    return rps;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  if (!findMosquitto()) throw new Error('mosquitto is not installed (apt install mosquitto)');
  const m = describeMachine();
  const machine = `${m.cpu}, ${m.cpus} logical CPUs, ${m.memoryGiB} GiB, ${m.platform} ${m.arch}; load average at start ${m.loadavg.join(' / ')}`;
  const mosquittoVersion =
    spawnSync(findMosquitto()!, ['-h'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? '?';
  console.error(`machine: ${machine}\nbroker: ${mosquittoVersion}`);
  console.error('training the tiny test model (GANomaly, patch mode, 48 px parts)...');
  modelDir = await trainTinyModel(work);
  broker = await startMosquitto(join(work, 'broker'));

  console.error(`steady: ${steadyN} images at ${rate}/s, outputs off, then on...`);
  const off = await steady(false);
  const on = await steady(true);

  console.error(`burst: ${burstN} images, ${reps} reps each, outputs off / on alternating...`);
  const burstOff: number[] = [];
  const burstOn: number[] = [];
  const burstOnMessages: number[] = [];
  for (let r = 0; r < reps; r++) {
    for (const outputs of r % 2 === 0 ? [false, true] : [true, false]) {
      const b = await burst(outputs);
      if (outputs) {
        burstOn.push(b.commitsPerSecond);
        burstOnMessages.push(b.messagesPerSecond);
      } else burstOff.push(b.commitsPerSecond);
      console.error(
        `  rep ${r + 1} outputs ${outputs ? 'on ' : 'off'}: ${b.commitsPerSecond.toFixed(1)} img/s`,
      );
    }
  }
  const cost = burstOff.map((o, i) => 1 - burstOn[i] / o);

  console.error(`outbox writes: ${rowsN} rows with 0, 1, 2 outputs, ${reps} reps...`);
  const writes: Record<0 | 1 | 2, number[]> = { 0: [], 1: [], 2: [] };
  outboxWrites(0); // warm-up (statement cache, page cache), not counted
  for (let r = 0; r < reps; r++)
    for (const k of r % 2 === 0 ? ([0, 1, 2] as const) : ([2, 1, 0] as const))
      writes[k].push(outboxWrites(k));
  await broker.stop();

  const q = (a: number[]) => ({ p50: pct(a, 0.5), p95: pct(a, 0.95), n: a.length });
  const result = {
    machine,
    broker: mosquittoVersion,
    model: "the tests' tiny GANomaly (patch mode, 32 px patches of 48 px gray parts, wasm backend)",
    steady: {
      rate,
      images: steadyN,
      off: { fileToCommit: q(off.fileToCommit) },
      on: {
        fileToCommit: q(on.fileToCommit),
        fileToMqtt: q(on.fileToMqtt),
        fileToOpcua: q(on.fileToOpcua),
        commitToMqtt: q(on.commitToMqtt),
        commitToOpcua: q(on.commitToOpcua),
        opcuaPublishingIntervalMs: on.revisedPublishingMs,
      },
    },
    burst: {
      images: burstN,
      reps,
      offImagesPerSecond: summarize(burstOff),
      onImagesPerSecond: summarize(burstOn),
      onMessagesPerSecond: summarize(burstOnMessages),
      throughputCost: summarize(cost),
    },
    outboxWrites: {
      rows: rowsN,
      noOutputRowsPerSecond: summarize(writes[0]),
      oneOutputRowsPerSecond: summarize(writes[1]),
      twoOutputsRowsPerSecond: summarize(writes[2]),
    },
  };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'outputs.json'), JSON.stringify(result, null, 2));
  const s = result.steady;
  const b = result.burst;
  const w = result.outboxWrites;
  const md = `# Plant outputs benchmark

${machine}; ${mosquittoVersion} on loopback; ${result.model}.
Command: \`npm run bench:outputs -- --rate ${rate} --steady ${steadyN} --burst ${burstN} --reps ${reps} --rows ${rowsN}\`

## Latency at ${rate} images/s (${steadyN} images per run; p50 / p95)

| path | outputs off (reference, same run) | outputs on (MQTT QoS 1 + OPC UA) |
|---|---|---|
| file renamed in -> row committed | ${ms(s.off.fileToCommit.p50)} / ${ms(s.off.fileToCommit.p95)} | ${ms(s.on.fileToCommit.p50)} / ${ms(s.on.fileToCommit.p95)} |
| file -> MQTT message at a subscriber | - | ${ms(s.on.fileToMqtt.p50)} / ${ms(s.on.fileToMqtt.p95)} |
| file -> OPC UA data change at a client (publishing interval ${s.on.opcuaPublishingIntervalMs} ms) | - | ${ms(s.on.fileToOpcua.p50)} / ${ms(s.on.fileToOpcua.p95)} |
| added by MQTT: commit -> message | - | ${ms(s.on.commitToMqtt.p50)} / ${ms(s.on.commitToMqtt.p95)} |
| added by OPC UA: commit -> data change | - | ${ms(s.on.commitToOpcua.p50)} / ${ms(s.on.commitToOpcua.p95)} |

## Throughput cost (burst of ${burstN} images, ${reps} reps alternating; median (min-max))

| measure | value |
|---|---|
| outputs off: images/s to the last commit | ${spread(b.offImagesPerSecond)} |
| outputs on (MQTT + OPC UA): images/s to the last commit | ${spread(b.onImagesPerSecond)} |
| outputs on: images/s to the last MQTT message | ${spread(b.onMessagesPerSecond)} |
| throughput lost with outputs on (1 - on/off, per rep) | ${spread(b.throughputCost, (v) => `${(v * 100).toFixed(1)}%`)} |

## The outbox write alone (${rowsN} inspection rows, nothing delivered; median (min-max) of ${reps}, after a warm-up)

| outputs configured | rows/s |
|---|---|
| none (the reference: no outbox row) | ${spread(w.noOutputRowsPerSecond, (v) => v.toFixed(0))} |
| 1 (one outbox row per inspection) | ${spread(w.oneOutputRowsPerSecond, (v) => v.toFixed(0))} |
| 2 (two outbox rows per inspection) | ${spread(w.twoOutputsRowsPerSecond, (v) => v.toFixed(0))} |

The subscribers (mqtt client, node-opcua client) run in the benchmark's own process, beside the station. File ->
commit includes the watcher's write-settle window (100 ms here). The OPC UA figure includes waiting for the
subscription's next publish (the interval the server granted, above).
`;
  writeFileSync(join(values.out, 'outputs.md'), md);
  console.log(md);
  rmSync(work, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
