// `station serve`, `station watch` and `station verify-audit`: the station core driven from a terminal.
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Inspection, StationEvent } from '../../common/api';
import { serveHttp, newToken, isLoopback } from '../station/http-server';
import { openDatabase } from '../station/database';
import { Station } from '../station/station';
import { validated } from '../station/in-process';
import type { EnginePreference } from '../station/engine-choice';
import { APP_VERSION } from './version';

const DEFAULT_DATA_DIR = '.station';
const ENGINES = ['auto', 'tfjs', 'onnxruntime'];

export const STATION_USAGE = `  serve    [--data-dir DIR] [--host 127.0.0.1] [--port 5317] [--token T] [--engine auto|tfjs|onnxruntime] [--threads N]
           the station with its HTTP + WebSocket API (and the built UI when present); any host other than
           loopback requires a token (one is generated and printed when none is given)
  watch    DIR --model MODEL [--data-dir DIR] [--threshold X] [--recursive] [--engine ...]
           watch a camera folder and print one line per image as it is scored (Ctrl-C stops)
  verify-audit [--data-dir DIR]   recompute the decisions' hash chain; exit 1 naming the first bad row`;

const common = {
  'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
  engine: { type: 'string', default: 'auto' },
  threads: { type: 'string' },
  backend: { type: 'string' },
} as const;

function engineOf(v: string): EnginePreference {
  if (!ENGINES.includes(v)) throw new Error(`--engine must be one of ${ENGINES.join(', ')}`);
  return v as EnginePreference;
}

function openStation(values: { 'data-dir': string; engine: string; threads?: string; backend?: string }) {
  return Station.open({
    dataDir: resolve(values['data-dir']),
    engine: engineOf(values.engine),
    threads: values.threads === undefined ? undefined : Math.max(1, Number(values.threads) || 1),
    backend: values.backend,
    shell: 'cli',
    version: APP_VERSION,
  });
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

export async function cmdServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...common,
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5317' },
      token: { type: 'string' },
    },
  });
  const token = values.token ?? (isLoopback(values.host) ? undefined : newToken());
  const station = await openStation(values);
  const staticDir = resolve('out', 'renderer');
  const server = await serveHttp(validated(station), {
    host: values.host,
    port: Number(values.port),
    token,
    staticDir,
  });
  console.log(`station serving ${server.url} (data dir ${station.dataDir})`);
  if (token) console.log(`token: ${token}  (send as "Authorization: Bearer <token>" or ?token=)`);
  if (!existsSync(join(staticDir, 'index.html'))) console.log('UI not built (npm run build); the API is up');
  station.onEvent((e: StationEvent) => {
    if (e.type === 'error') console.error(`error: ${e.message}`);
  });
  await untilStopped();
  await server.close();
  await station.close();
  return 0;
}

export async function cmdWatch(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...common,
      model: { type: 'string' },
      threshold: { type: 'string' },
      recursive: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1 || !values.model) throw new Error('watch needs DIR and --model MODEL');
  const folder = resolve(positionals[0]);
  const station = await openStation(values);
  const api = validated(station);
  const model = await api.registerModel({ folder: resolve(values.model) });
  const existing = (await api.listLines({})).find((l) => l.folder === folder);
  const threshold = values.threshold === undefined ? null : Number(values.threshold);
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
  station.onEvent((e) => {
    if (e.type === 'inspection' && names.has(e.inspection.lineId))
      console.log(formatInspection(e.inspection, names.get(e.inspection.lineId)!));
    else if (e.type === 'line-status' && e.line.id === line.id) {
      console.error(
        `[${e.line.status}] ${e.line.statusText}${e.line.engine ? ` (engine: ${e.line.engine}; ${e.line.engineReason})` : ''}`,
      );
    } else if (e.type === 'error') console.error(`error: ${e.message}`);
  });
  console.error(`watching ${folder} with model ${model.name}; data dir ${station.dataDir}; Ctrl-C stops`);
  await untilStopped();
  await station.close();
  return 0;
}

export async function cmdVerifyAudit(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': common['data-dir'] } });
  const file = join(resolve(values['data-dir']), 'station.db');
  if (!existsSync(file)) throw new Error(`no station database at ${file}`);
  const db = openDatabase(file);
  try {
    const r = db.verifyAuditChain();
    if (r.ok) {
      console.log(`audit chain OK: ${r.count} decisions, head ${r.headHash ?? '(empty)'}`);
      return 0;
    }
    console.log(`audit chain BROKEN at decision ${r.firstBadId}: ${r.reason} (${r.count} decisions checked)`);
    return 1;
  } finally {
    db.close();
  }
}
