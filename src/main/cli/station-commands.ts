// `station serve`, `station watch` and `station verify-audit`: the station core driven from a terminal.
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Inspection, StationEvent } from '../../common/api';
import { serveHttp, newToken, isLoopback } from '../station/http-server';
import { openDatabase } from '../station/database';
import { Station, type StationOptions } from '../station/station';
import { validated } from '../station/in-process';
import { LineageStore } from '../station/lineage/store';
import { verifyLineage } from '../station/lineage/records';
import { APP_VERSION } from './version';
import {
  applyMqttOptions,
  applyOpcuaOptions,
  checkMqttOptions,
  checkOpcuaOptions,
  MQTT_OPTIONS,
  OPCUA_OPTIONS,
  outputStateLines,
} from './output-options';
import {
  choiceOption,
  numberOption,
  UsageError,
  type CommandSpec,
  type OptionTable,
  type OptionValues,
  type Parsed,
} from './args';

export const ENGINES = ['auto', 'tfjs', 'onnxruntime'] as const;

/** Options of every command that runs the station core. */
const COMMON = {
  'data-dir': { type: 'string', value: 'DIR', default: '.station', help: "the station's data folder" },
  engine: {
    type: 'string',
    value: ENGINES.join('|'),
    default: 'auto',
    help: "scoring engine (auto: ONNX Runtime where the model's parity check passes)",
  },
  threads: {
    type: 'string',
    value: 'N',
    help: 'ONNX Runtime threads per scoring worker (default half the cores)',
  },
} as const satisfies OptionTable;

export const SERVE = {
  name: 'serve',
  summary: 'the station with its HTTP + WebSocket API (and the built UI when present)',
  options: {
    ...COMMON,
    host: {
      type: 'string',
      value: 'HOST',
      default: '127.0.0.1',
      help: 'address to bind; any but loopback requires a token',
    },
    port: { type: 'string', value: 'PORT', default: '5317', help: 'port to serve on' },
    token: { type: 'string', value: 'T', help: 'bearer token clients must send (generated off loopback)' },
    ...OPCUA_OPTIONS,
  },
} as const satisfies CommandSpec;

export const WATCH = {
  name: 'watch',
  args: 'DIR',
  summary: 'watch a camera folder and print one line per image as it is scored (Ctrl-C stops)',
  options: {
    ...COMMON,
    model: { type: 'string', value: 'MODEL', help: 'the model folder that judges the images' },
    threshold: {
      type: 'string',
      value: 'X',
      help: "raw-score threshold for this line (default: the model's)",
    },
    recursive: { type: 'boolean', help: 'watch subfolders too' },
    ...MQTT_OPTIONS,
  },
} as const satisfies CommandSpec;

export const VERIFY_AUDIT = {
  name: 'verify-audit',
  summary: "recompute the decisions' and the model lineage's hash chains; exit 1 naming the first bad row",
  options: { 'data-dir': COMMON['data-dir'] },
} as const satisfies CommandSpec;

type CommonValues = OptionValues<typeof COMMON> & { backend?: string };

/** The station's options from the common ones (a usage error for a bad --engine or --threads). */
function stationOptions(values: CommonValues, command: string): StationOptions {
  const threads = numberOption(values.threads, 'threads', command);
  return {
    dataDir: resolve(values['data-dir']),
    engine: choiceOption(values.engine, 'engine', ENGINES, command),
    threads: threads === undefined ? undefined : Math.max(1, Math.round(threads)),
    backend: values.backend,
    shell: 'cli',
    version: APP_VERSION,
  };
}

/** Resolve when the user presses Ctrl-C (or the process is asked to stop). */
function untilStopped(): Promise<void> {
  return new Promise((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
}

export function formatInspection(i: Inspection, lineName: string): string {
  const score = i.rawScore === null ? '-' : i.rawScore.toPrecision(5);
  const norm = i.normalizedScore === null ? '-' : i.normalizedScore.toFixed(3);
  const what = i.verdict === 'error' ? `ERROR ${i.errorText}` : i.verdict.toUpperCase();
  const ms = (i.decodeMs ?? 0) + (i.scoreMs ?? 0);
  return `${i.scoredAt}  ${lineName}  ${basename(i.filePath)}  score ${score}  norm ${norm}  ${what}  ${ms.toFixed(0)} ms`;
}

/** `begin` runs once the options are checked (it prints the backend line). */
export async function cmdServe(
  values: OptionValues<typeof SERVE.options>,
  begin: () => Promise<unknown>,
): Promise<number> {
  const port = numberOption(values.port, 'port', 'serve')!;
  const token = values.token ?? (isLoopback(values.host) ? undefined : newToken());
  const options = stationOptions(values, 'serve');
  checkOpcuaOptions(values, 'serve');
  await begin();
  const station = await Station.open(options);
  const staticDir = resolve('out', 'renderer');
  const server = await serveHttp(validated(station), {
    host: values.host,
    port,
    token,
    staticDir,
  });
  console.log(`station serving ${server.url} (data dir ${station.dataDir})`);
  if (token) console.log(`token: ${token}  (send as "Authorization: Bearer <token>" or ?token=)`);
  if (!existsSync(join(staticDir, 'index.html'))) console.log('UI not built (npm run build); the API is up');
  const outputLine = outputStateLines();
  station.onEvent((e: StationEvent) => {
    if (e.type === 'error') console.error(`error: ${e.message}`);
    const o = outputLine(e);
    if (o) console.error(o);
  });
  const made = await applyOpcuaOptions(validated(station), values, 'serve');
  if (made) console.log(made);
  await untilStopped();
  await server.close();
  await station.close();
  return 0;
}

export async function cmdWatch(
  { values, positionals }: Parsed<typeof WATCH.options>,
  begin: () => Promise<unknown>,
): Promise<number> {
  if (positionals.length !== 1 || !values.model)
    throw new UsageError('watch needs DIR and --model MODEL', 'watch');
  const folder = resolve(positionals[0]);
  const threshold = numberOption(values.threshold, 'threshold', 'watch') ?? null;
  const options = stationOptions(values, 'watch');
  checkMqttOptions(values, 'watch');
  await begin();
  const station = await Station.open(options);
  const api = validated(station);
  const model = await api.registerModel({ folder: resolve(values.model) });
  const existing = (await api.listLines({})).find((l) => l.folder === folder);
  // The folder's line from an earlier run is reused, switched to this model and threshold if they changed.
  const line = existing
    ? existing.modelId === model.id && existing.thresholdOverride === threshold
      ? existing
      : await api.updateLine({ id: existing.id, modelId: model.id, thresholdOverride: threshold })
    : await api.addLine({
        name: basename(folder),
        folder,
        modelId: model.id,
        thresholdOverride: threshold,
        recursive: values.recursive,
      });
  if (line.state === 'paused') await api.setLineState({ id: line.id, state: 'active' });
  const names = new Map([[line.id, line.name]]);
  const outputLine = outputStateLines();
  station.onEvent((e) => {
    const o = outputLine(e);
    if (o) console.error(o);
    if (e.type === 'inspection' && names.has(e.inspection.lineId))
      console.log(formatInspection(e.inspection, names.get(e.inspection.lineId)!));
    else if (e.type === 'line-status' && e.line.id === line.id) {
      console.error(
        `[${e.line.status}] ${e.line.statusText}${e.line.engine ? ` (engine: ${e.line.engine}; ${e.line.engineReason})` : ''}`,
      );
    } else if (e.type === 'error') console.error(`error: ${e.message}`);
  });
  await applyMqttOptions(api, line.id, values, 'watch');
  console.error(`watching ${folder} with model ${model.name}; data dir ${station.dataDir}; Ctrl-C stops`);
  await untilStopped();
  await station.close();
  return 0;
}

export async function cmdVerifyAudit(values: OptionValues<typeof VERIFY_AUDIT.options>): Promise<number> {
  const file = join(resolve(values['data-dir']), 'station.db');
  if (!existsSync(file)) throw new Error(`no station database at ${file}`);
  const db = openDatabase(file);
  try {
    const r = db.verifyAuditChain();
    if (r.ok) console.log(`audit chain OK: ${r.count} decisions, head ${r.headHash ?? '(empty)'}`);
    else
      console.log(
        `audit chain BROKEN at decision ${r.firstBadId}: ${r.reason} (${r.count} decisions checked)`,
      );
    // Children made from feedback, activations and discards, with the images each child was made from.
    const l = verifyLineage(new LineageStore(db));
    if (l.ok) console.log(`model lineage OK: ${l.count} records, head ${l.headHash ?? '(empty)'}`);
    else
      console.log(`model lineage BROKEN at record ${l.firstBadId}: ${l.reason} (${l.count} records checked)`);
    return r.ok && l.ok ? 0 : 1;
  } finally {
    db.close();
  }
}
