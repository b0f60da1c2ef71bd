// `station start` (what `npm start` runs without Electron): the live station with something real to look at,
// served over HTTP + WebSocket on loopback at once. On a fresh data dir the demo model (demo.ts) trains as a
// station training job, with its progress in the Models view and a "waiting for its model" card on Live;
// when it is ready a "Demo line" watches a camera folder fed by a demo camera, which drops the sample's test
// test parts (good and defective) one by one, the way a line camera exports, and then idles (--loop repeats).
import { existsSync, mkdirSync, readdirSync, copyFileSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { BackendStatus } from '../../ml';
import { mvtecTestSet } from '../io/datasets';
import { serveHttp } from '../station/http-server';
import { validated } from '../station/in-process';
import { Station } from '../station/station';
import type { LineSummary, ModelSummary, StationApi, TrainingJob } from '../../common/api';
import { DEMO_MODEL, ensureDemoData, type DemoModel } from './demo';
import { formatInspection } from './station-commands';
import { formatSeconds } from './progress';
import { APP_VERSION } from './version';
import { quantile } from '../../ml/metrics';
import { numberOption, UsageError, type CommandSpec, type OptionValues } from './args';

export const DEMO_LINE = 'Demo line';

export const START = {
  name: 'start',
  summary: 'what npm start runs: the station and UI on http://127.0.0.1:5317 with a demo line',
  options: {
    'data-dir': { type: 'string', value: 'DIR', default: '.station', help: "the station's data folder" },
    port: { type: 'string', value: 'PORT', default: '5317', help: 'port to serve on (busy: a free one)' },
    every: {
      type: 'string',
      value: 'SECONDS',
      default: '3',
      help: 'the demo camera drops a part every SECONDS',
    },
    loop: {
      type: 'boolean',
      help: 'the demo camera plays the sample over and over (new file names each round); default: once',
    },
    for: { type: 'string', value: 'SECONDS', help: 'stop after SECONDS' },
  },
  notes: [
    'On a fresh data dir the demo model trains first (a training job: see Models); the demo line starts',
    'when it is ready. The demo camera folder is <data dir>-demo-camera.',
  ],
} as const satisfies CommandSpec;

export async function cmdStart(
  values: OptionValues<typeof START.options>,
  backend: BackendStatus,
): Promise<number> {
  const every = numberOption(values.every, 'every', 'start')!;
  if (!(every > 0)) throw new UsageError('--every must be more than 0 seconds', 'start');
  const port = numberOption(values.port, 'port', 'start')!;
  const stopAfter = numberOption(values.for, 'for', 'start');
  const dataDir = resolve(values['data-dir']);
  const station = await Station.open({
    dataDir,
    backend: backend.name,
    shell: 'browser',
    version: APP_VERSION,
  });
  const api = validated(station);
  // Serve first: the address answers within seconds, also while the demo model trains.
  const staticDir = resolve('out', 'renderer');
  let server;
  try {
    server = await serveHttp(api, { port, staticDir });
  } catch (e) {
    console.error(`port ${port} is busy (${(e as Error).message}); serving on a free port instead`);
    server = await serveHttp(api, { port: 0, staticDir });
  }
  console.log(
    `station: ${server.url}  open it in a browser (API at /api, events at /api/events; data dir ${dataDir})`,
  );

  const names = new Map<number, string>();
  for (const l of await api.listLines({})) names.set(l.id, l.name);
  const lastStatus = new Map<number, string>();
  station.onEvent((e) => {
    if (e.type === 'inspection')
      console.log(formatInspection(e.inspection, names.get(e.inspection.lineId) ?? '?'));
    else if (e.type === 'error') console.error(`error: ${e.message}`);
    else if (e.type === 'line-status') {
      names.set(e.line.id, e.line.name);
      // Line-status events also carry backlog changes: print only when the status itself changes.
      const status = `[${e.line.name}: ${e.line.status}] ${e.line.statusText}`;
      if (status === lastStatus.get(e.line.id)) return;
      lastStatus.set(e.line.id, status);
      const engine = e.line.engine ? ` (engine: ${e.line.engine}; ${e.line.engineReason})` : '';
      console.log(status + engine);
    }
  });

  const demo = startDemo(api, dataDir, {
    everySeconds: every,
    loop: values.loop,
    log: (m) => console.log(m),
  });
  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
    if (stopAfter !== undefined) setTimeout(r, stopAfter * 1000);
  });
  demo.stop();
  await station.idle();
  await server.close();
  await station.close();
  return 0;
}

export interface DemoOptions {
  /** Seconds between two parts. */
  everySeconds: number;
  /** Play the sample over and over (default: once, then idle). */
  loop?: boolean;
  /** Where progress and what the demo does are said (default: nowhere). */
  log?: (message: string) => void;
  /** The demo model and its data (tests pass a small one). */
  model?: DemoModel;
  data?: string;
}

export interface Demo {
  /** The demo line and its camera once the model is ready; null when the demo could not start (said why)
   * or was stopped first. */
  ready: Promise<{ line: LineSummary; camera: string } | null>;
  /** Stop the demo camera (and stop waiting for the model; its training job goes on with the station). */
  stop(): void;
}

/**
 * Start the demo without waiting for it: get the demo model (registered, trained earlier, or trained now as a
 * training job, resumed if an earlier start was cut off), then add (or reuse) the demo line watching a camera
 * folder beside the data dir, and start the demo camera. Used by `station start` and the Electron app.
 */
export function startDemo(api: StationApi, dataDir: string, o: DemoOptions): Demo {
  const log = o.log ?? (() => undefined);
  const model = o.model ?? DEMO_MODEL;
  let stopped = false;
  let stopCamera = () => undefined as void;
  const stopWaiting = new AbortController();
  const ready = (async () => {
    const data = o.data ?? (await ensureDemoData(dataDir));
    const m = await demoModel(api, join(dataDir, 'models'), model, data, log, stopWaiting.signal);
    if (stopped) return null;
    const line = await demoLine(api, dataDir, m, model, log);
    const camera = line.folder;
    stopCamera = await demoCamera(data, camera, join(dataDir, 'demo-camera-staging'), o, log);
    return { line, camera };
  })().catch((e: Error) => {
    if (!stopped) log(`demo line not started: ${e.message}`);
    return null;
  });
  return {
    ready,
    stop() {
      stopped = true;
      stopWaiting.abort();
      stopCamera();
    },
  };
}

/** The demo model: registered already, in its folder from an earlier run, or trained now as a job. */
async function demoModel(
  api: StationApi,
  modelsDir: string,
  demo: DemoModel,
  data: string,
  log: (m: string) => void,
  signal: AbortSignal,
): Promise<ModelSummary> {
  const folder = join(modelsDir, demo.name);
  const known = (await api.listModels({})).filter((m) => m.folder === folder).at(-1);
  if (known) return known;
  if (existsSync(join(folder, 'meta.json'))) return api.registerModel({ folder });

  const earlier = (await api.listTrainingJobs({}))
    .filter((j) => j.name === demo.name)
    .sort((a, b) => b.id - a.id)[0];
  // Listen before starting, so no event is missed.
  const finished = new Promise<ModelSummary>((res, rej) => {
    let jobId: number | undefined = earlier?.id;
    let lastLog = 0;
    let lastEpoch = -1;
    const off = api.onEvent((e) => {
      if (e.type !== 'training-progress' || (jobId !== undefined && e.job.id !== jobId)) return;
      if (jobId === undefined && e.job.name !== demo.name) return;
      jobId = e.job.id;
      const j = e.job;
      if (j.state === 'done' && j.modelId !== null) {
        off();
        api
          .listModels({})
          .then((ms) => ms.find((m) => m.id === j.modelId))
          .then((m) =>
            m ? res(m) : rej(new Error(`the demo model (model ${j.modelId}) is not registered`)),
          );
      } else if (j.state === 'failed') {
        off();
        rej(new Error(`the demo model's training failed: ${j.error}`));
      } else if (j.state === 'cancelled') {
        log(`demo model: training cancelled; resume it on Models and the demo line starts when it is done`);
      } else if (j.progress && (Date.now() - lastLog > 10_000 || j.progress.epoch !== lastEpoch)) {
        // A line when an epoch starts and every 10 s, not one per progress event (two a second).
        lastLog = Date.now();
        lastEpoch = j.progress.epoch;
        log(`demo model: ${progressText(j)}`);
      }
    });
    signal.addEventListener('abort', () => (off(), rej(new Error('stopped'))));
  });
  finished.catch(() => undefined);

  let job: TrainingJob;
  if (!earlier || (earlier.state === 'failed' && !existsSync(folder)) || earlier.state === 'done') {
    job = await api.startTraining({ ...demo.training, name: demo.name, data, forLine: DEMO_LINE });
    log(
      `demo model: training ${demo.description} on ${data} as training job ${job.id} (progress on Models); ` +
        `the demo line starts when it is ready`,
    );
  } else if (earlier.state === 'interrupted' || earlier.state === 'cancelled') {
    job = await api.resumeTraining({ jobId: earlier.id });
    log(
      `demo model: resuming training job ${job.id}, cut off earlier; the demo line starts when it is ready`,
    );
  } else if (earlier.state === 'failed') {
    throw new Error(
      `the demo model's training failed earlier (${earlier.error}); delete ${folder} and start again to retrain it`,
    );
  } else {
    log(`demo model: training job ${earlier.id} is running; the demo line starts when it is ready`);
  }
  return finished;
}

function progressText(j: TrainingJob): string {
  const p = j.progress!;
  if (p.phase !== 'training') return `${p.phase}...`;
  const eta = p.etaSeconds === null ? '' : `, ETA ${formatSeconds(p.etaSeconds)}`;
  return `epoch ${p.epoch}/${p.epochs}, step ${p.step}/${p.steps}, ${p.imagesPerSecond.toFixed(1)} img/s${eta}`;
}

/** Add the demo line, or reuse the one an earlier start added (switched to this model if it changed). */
async function demoLine(
  api: StationApi,
  dataDir: string,
  model: ModelSummary,
  demo: DemoModel,
  log: (m: string) => void,
): Promise<LineSummary> {
  // Beside the data dir, not in it: a line never watches the station's own folder.
  const camera = `${dataDir}-demo-camera`;
  mkdirSync(camera, { recursive: true });
  const existing = (await api.listLines({})).find((l) => l.folder === camera);
  let line: LineSummary;
  if (existing && existing.modelId === model.id) line = existing;
  else {
    const thresholdOverride = await demoThreshold(api, model, demo);
    line = existing
      ? await api.updateLine({ id: existing.id, modelId: model.id, thresholdOverride })
      : await api.addLine({ name: DEMO_LINE, folder: camera, modelId: model.id, thresholdOverride });
  }
  log(`${line.name}: watching ${camera} with model ${model.name}; ${thresholdText(line, model)}`);
  if (line.state === 'paused') log(`${line.name} is paused: resume it on Lines to score the demo parts`);
  return line;
}

/** The threshold a line judges by, and where it comes from. */
export function thresholdText(line: LineSummary, model: ModelSummary): string {
  const calibrated = model.threshold === null ? 'none' : model.threshold.toPrecision(4);
  if (line.thresholdOverride !== null)
    return `threshold ${line.thresholdOverride.toPrecision(4)} (the line's override; the model's calibrated one is ${calibrated})`;
  return model.threshold === null
    ? 'no threshold (the model is not calibrated)'
    : `threshold ${calibrated} (the model's calibrated one)`;
}

/** The demo line's threshold override: the configured quantile of the model's held-out good scores. */
async function demoThreshold(api: StationApi, model: ModelSummary, demo: DemoModel): Promise<number | null> {
  if (demo.lineThresholdQuantile === null) return null;
  const cal = await api.getCalibration({ modelId: model.id });
  if (cal.goodScores.length < 10) return null;
  return quantile(cal.goodScores, demo.lineThresholdQuantile);
}

/** A camera file name: part-<n>-<type>-<the sample file's name> (type: good or the defect's folder), so a
 * restart knows which parts it dropped. Earlier versions, whose demo was PCB boards, wrote board-<n>-... */
const BOARD_NAME = /^(?:part|board)-(\d+)-(.+)$/;
const boardKey = (file: string) => `${basename(dirname(file))}-${basename(file)}`;

/**
 * The demo camera: the sample's test boards in a fixed interleaved order (good, defect, good, ...), one every
 * `everySeconds`, renamed in atomically as a camera's export should be. Without `loop` each board is dropped
 * once, also across restarts (boards already in the folder are skipped), and then the camera idles. Returns
 * its stop function.
 */
async function demoCamera(
  data: string,
  camera: string,
  staging: string,
  o: DemoOptions,
  log: (m: string) => void,
): Promise<() => void> {
  const tests = await mvtecTestSet(data);
  const good = tests.filter((t) => t.label === 0);
  const bad = tests.filter((t) => t.label === 1);
  const order = good.flatMap((g, i) => (bad[i] ? [g, bad[i]] : [g])).concat(bad.slice(good.length));
  const played = new Set<string>();
  let n = 0;
  for (const f of readdirSync(camera)) {
    const m = BOARD_NAME.exec(f);
    if (!m) continue;
    played.add(m[2]);
    n = Math.max(n, Number(m[1]) + 1);
  }
  const queue = o.loop
    ? order
    : order.filter((t) => !played.has(boardKey(t.file)) && !played.has(basename(t.file)));
  if (!queue.length) {
    log(
      `demo camera: the ${order.length} demo parts were all played on an earlier start (see History); idle. ` +
        `\`npm start -- --loop\` plays them again`,
    );
    return () => undefined;
  }
  log(
    `demo camera: ${queue.length} demo parts, one every ${o.everySeconds} s, into ${camera}; ` +
      (o.loop ? 'over and over (--loop)' : 'then it idles (--loop repeats them)'),
  );
  mkdirSync(staging, { recursive: true }); // same file system as the camera: rename is atomic
  let i = 0;
  const shoot = () => {
    const src = queue[i % queue.length].file;
    const name = `part-${String(n).padStart(5, '0')}-${boardKey(src)}`;
    try {
      copyFileSync(src, join(staging, name));
      renameSync(join(staging, name), join(camera, name));
    } catch (e) {
      console.error(`demo camera: ${(e as Error).message}`);
    }
    n += 1;
    i += 1;
    if (!o.loop && i === queue.length) {
      clearInterval(timer);
      log(
        `demo camera: played all ${order.length} demo parts; idle now (\`npm start -- --loop\` repeats them)`,
      );
    }
  };
  const timer = setInterval(shoot, o.everySeconds * 1000);
  shoot();
  return () => clearInterval(timer);
}
