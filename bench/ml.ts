// The ML benchmark: training and scoring throughput of the three detectors on the tfjs backend that runs,
// scoring throughput of the same detectors exported to ONNX and run by ONNX Runtime (src/ml/onnx), and the
// same networks and steps in PyTorch (bench/torch_ref.py), on the same machine with the same thread count,
// in one invocation. Not a test: run it on an idle machine and read bench/results/ml.md.
//
//   npm run bench -- [--methods ganomaly,egbad,anogan] [--sizes 32x32x1,64x64x3,128x128x3] [--reps 5]
//                    [--threads 1,all] [--anogan-steps 20] [--out bench/results] [--no-torch] [--no-onnx]
//
// See bench/README.md for what each column means and how the ratios are computed.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import {
  describeBackend,
  METHODS,
  relativeError,
  selectBackend,
  SUPPORTED_SIZES,
  type Detector,
  type Method,
  type ScoreBatch,
} from '../src/ml';
import type { OnnxEngine } from '../src/ml/onnx';
import {
  ANOGAN_GAMMA,
  describeMachine,
  runTorch,
  setUp,
  summarize,
  timeCalls,
  toImageBatch,
  trainableParams,
  weightsDigest,
  type FromWorker,
  type Mode,
  type Summary,
  type Task,
  type TorchResult,
  type WorkerTask,
} from './common';

// ------------------------------------------------------------------------------------------ options

const USAGE = `usage: npm run bench -- [options]
  --methods LIST        ganomaly,egbad,anogan (default: all three)
  --metrics LIST        train and/or score (default: both)
  --sizes LIST          SIZExSIZExCHANNELS, e.g. 32x32x1,64x64x3,128x128x3 (default)
  --reps N              timed reps per row, after the warm-up (default 5)
  --warmup N            untimed warm-up reps per row (default 1)
  --threads LIST        1 (one thread: training and scoring) and/or all or a number (parallel scoring:
                        that many tfjs worker threads; PyTorch: one process with that many threads)
                        (default 1,all; all = os.availableParallelism())
  --train-batch N       training batch (default 32)
  --score-batches LIST  scoring batches (default 1,32)
  --anogan-steps N      latent search steps timed for AnoGAN scoring, extrapolated to ${ANOGAN_GAMMA} (default 20)
  --out DIR             where ml.json and ml.md go (default bench/results)
  --no-torch            no PyTorch column (and no ratios to PyTorch)
  --no-onnx             no ONNX Runtime columns (GANomaly and EGBAD scoring rows otherwise have them)
  --python PATH         the Python with torch (default /usr/bin/python3)
  --torch-lib-path DIR  put DIR first on PyTorch's LD_LIBRARY_PATH, e.g. a folder with OpenBLAS's
                        libblas.so.3 (see bench/README.md: Debian's torch on the reference BLAS)
  --seed N              seed of the random input batches (default 42)`;

interface Options {
  methods: Method[];
  metrics: Metric[];
  sizes: { size: number; channels: 1 | 3 }[];
  reps: number;
  warmup: number;
  threads: number[];
  threadsAsked: string[];
  trainBatch: number;
  scoreBatches: number[];
  anoganSteps: number;
  out: string;
  torch: boolean;
  onnx: boolean;
  python: string;
  torchLibPath?: string;
  seed: number;
}

function fail(msg: string): never {
  console.error(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} wants a positive integer (got "${v}")`);
  return n;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      methods: { type: 'string', default: METHODS.join(',') },
      metrics: { type: 'string', default: 'train,score' },
      sizes: { type: 'string', default: '32x32x1,64x64x3,128x128x3' },
      reps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      threads: { type: 'string', default: '1,all' },
      'train-batch': { type: 'string', default: '32' },
      'score-batches': { type: 'string', default: '1,32' },
      'anogan-steps': { type: 'string', default: '20' },
      out: { type: 'string', default: 'bench/results' },
      'no-torch': { type: 'boolean', default: false },
      'no-onnx': { type: 'boolean', default: false },
      python: { type: 'string', default: '/usr/bin/python3' },
      'torch-lib-path': { type: 'string' },
      seed: { type: 'string', default: '42' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const list = (s: string): string[] =>
    s
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
  const methods = list(values.methods).map((m) => {
    if (!(METHODS as readonly string[]).includes(m)) fail(`unknown method "${m}"`);
    return m as Method;
  });
  const sizes = list(values.sizes).map((s) => {
    const m = /^(\d+)x(\d+)x([13])$/.exec(s);
    if (!m || m[1] !== m[2])
      fail(`--sizes wants SIZExSIZExCHANNELS with square sizes and 1 or 3 channels (got "${s}")`);
    if (!(SUPPORTED_SIZES as readonly number[]).includes(Number(m[1])))
      fail(`--sizes: the networks take ${SUPPORTED_SIZES.join(', ')} (got "${s}")`);
    return { size: Number(m[1]), channels: Number(m[3]) as 1 | 3 };
  });
  const threadsAsked = list(values.threads);
  const threads = [
    ...new Set(
      threadsAsked.map((t) => (t === 'all' ? os.availableParallelism() : positiveInt('threads', t))),
    ),
  ].sort((a, b) => a - b);
  if (threadsAsked.includes('all') && os.availableParallelism() === 1)
    console.error('bench: this machine has one core; "all" is the same as 1');
  const metrics = list(values.metrics).map((m) => {
    if (m !== 'train' && m !== 'score') fail(`--metrics takes train and/or score (got "${m}")`);
    return m as Metric;
  });
  return {
    methods,
    metrics,
    sizes,
    reps: positiveInt('reps', values.reps),
    warmup:
      Number.isInteger(Number(values.warmup)) && Number(values.warmup) >= 0
        ? Number(values.warmup)
        : fail('--warmup wants an integer >= 0'),
    threads,
    threadsAsked,
    trainBatch: positiveInt('train-batch', values['train-batch']),
    scoreBatches: list(values['score-batches']).map((b) => positiveInt('score-batches', b)),
    anoganSteps: positiveInt('anogan-steps', values['anogan-steps']),
    out: values.out,
    torch: !values['no-torch'],
    onnx: !values['no-onnx'],
    python: values.python,
    torchLibPath: values['torch-lib-path'],
    seed: positiveInt('seed', values.seed),
  };
}

// ------------------------------------------------------------------------------------------ rows

type Metric = 'train' | 'score';

interface Side {
  /** Seconds per call of each timed rep (a call: one training step, one scoring call or one AnoGAN search of
   * `steps`; in the parallel rows, one round in which every worker makes one call). */
  seconds: number[];
  /** Images one call handles: the batch, times the workers in parallel rows. */
  imagesPerCall: number;
  /** Images/s per rep, AnoGAN's searches scaled to the product's Gamma. */
  imagesPerSecond: Summary;
}

interface Row {
  method: Method;
  size: number;
  channels: 1 | 3;
  batch: number;
  /** 1 = one thread; more = parallel scoring (tfjs: that many worker threads; PyTorch: that many threads). */
  threads: number;
  metric: Metric;
  mode: Mode;
  /** AnoGAN: search steps timed, and the factor to the product's Gamma (time x factor). */
  steps?: number;
  extrapolation?: number;
  inner: number;
  tfjs: Side & {
    workers: number;
    perWorkerSeconds?: number[][];
    leakedTensors: number;
    params: Record<string, number>;
    /** weightsDigest of the detector(s) timed (every worker's, when they agree); scoring rows. */
    weightsDigest?: string;
  };
  torch?: Side & { threads: number; params: Record<string, number>; paramsMatch: boolean };
  torchError?: string;
  /** tfjs seconds per image / PyTorch seconds per image (medians); > 1: tfjs is slower. */
  ratio?: number;
  /** ONNX Runtime scoring of the tfjs detector exported with exportOnnx (GANomaly and EGBAD score rows). */
  onnx?: Side & OnnxTiming;
  onnxError?: string;
  /** Why a scoring row has no ONNX Runtime side: AnoGAN's search needs gradients ('n/a (tfjs only)'). */
  onnxSkipped?: string;
  /** ONNX Runtime seconds per image / PyTorch seconds per image (medians); > 1: ORT is slower. */
  onnxVsTorch?: number;
  /** ONNX Runtime seconds per image / tfjs seconds per image (medians); > 1: ORT is slower. */
  onnxVsTfjs?: number;
}

/** How far ORT's outputs of the last timed call are from tfjs's on the same batch (relativeError). */
interface Parity {
  score: number;
  error: number;
  tolerance: number;
  /** Both within the tolerance (NaN fails). */
  ok: boolean;
}

interface OnnxTiming {
  seconds: number[];
  /** The engine's description: version, execution provider, intra-op threads. */
  description: string;
  /** intraOpNumThreads of the row's one session. */
  threads: number;
  /** weightsDigest of the tfjs detector that was exported (equal to tfjs.weightsDigest). */
  weightsDigest: string;
  onnxBytes: number;
  parity: Parity;
}

/** Everything in a plan entry that the measurements fill in later. */
type Measured = 'tfjs' | 'torch' | 'ratio' | 'onnx' | 'onnxVsTorch' | 'onnxVsTfjs';

/** Same networks by name with the same trainable parameter counts. */
function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a).sort();
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function side(seconds: number[], imagesPerCall: number, extrapolation = 1): Side {
  return {
    seconds,
    imagesPerCall,
    imagesPerSecond: summarize(seconds.map((s) => imagesPerCall / (s * extrapolation))),
  };
}

/** Plans every row: per method and size, training at one thread, then scoring per thread count and batch. */
function plan(o: Options): Omit<Row, Measured>[] {
  const rows: Omit<Row, Measured>[] = [];
  for (const method of o.methods) {
    for (const { size, channels } of o.sizes) {
      const base = { method, size, channels };
      if (o.threads.includes(1) && o.metrics.includes('train'))
        rows.push({ ...base, batch: o.trainBatch, threads: 1, metric: 'train', mode: 'train', inner: 1 });
      for (const threads of o.metrics.includes('score') ? o.threads : []) {
        for (const batch of o.scoreBatches) {
          if (method === 'anogan') {
            rows.push({
              ...base,
              batch,
              threads,
              metric: 'score',
              mode: 'search',
              steps: o.anoganSteps,
              extrapolation: ANOGAN_GAMMA / o.anoganSteps,
              inner: 1,
              onnxSkipped: o.onnx ? 'n/a (tfjs only)' : undefined,
            });
          } else {
            // At least 32 images per rep, so that batch-1 reps are not lost in timer and call noise.
            rows.push({
              ...base,
              batch,
              threads,
              metric: 'score',
              mode: 'score',
              inner: Math.ceil(32 / batch),
            });
          }
        }
      }
    }
  }
  return rows;
}

function taskOf(r: Omit<Row, Measured>, o: Options): Task {
  return {
    method: r.method,
    size: r.size,
    channels: r.channels,
    batch: r.batch,
    mode: r.mode,
    steps: r.steps,
    inner: r.inner,
    warmup: o.warmup,
    reps: o.reps,
    seed: o.seed,
  };
}

// ------------------------------------------------------------------------------------------ tfjs timing

/** What a step that may fail gave: its value, or its error message (the row goes on without it). */
type Outcome<T> = { value: T } | { error: string };

async function attempt<T>(f: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { value: await f() };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

type OnnxModule = typeof import('../src/ml/onnx');

/**
 * One thread: the detector in this thread, on the backend selected at start-up. `then` runs after the
 * timing with the same detector and batch (the ONNX Runtime side of a scoring row), before they are disposed.
 */
async function timeHere<T>(
  task: Task,
  then?: (detector: Detector, x: tf.Tensor4D) => Promise<T>,
): Promise<{ seconds: number[]; params: Record<string, number>; then?: T }> {
  const { detector, x } = setUp(task);
  try {
    const params = trainableParams(detector);
    const seconds = await timeCalls(detector, x, task);
    return { params, seconds, then: then ? await then(detector, x) : undefined };
  } finally {
    detector.dispose();
    x.dispose();
  }
}

/**
 * The ONNX Runtime side of a scoring row: `detector` (the one the tfjs side timed, or one with the same
 * weights) exported with exportOnnx, one InferenceSession with `threads` intra-op threads, and
 * engine.score(batch) timed the way timeCalls times detector.score(x): the same batch values, `inner` calls
 * per rep, warm-up reps dropped, no maps or reconstructions asked for (scores and reconstruction errors come
 * back, as from the tfjs call). The last timed call's outputs are then compared with detector.score(x).
 */
async function timeOnnx(
  onnx: OnnxModule,
  detector: Detector,
  x: tf.Tensor4D,
  task: Task,
  threads: number,
): Promise<OnnxTiming> {
  const digest = weightsDigest(detector);
  const bytes = onnx.exportOnnx(detector);
  const engine: OnnxEngine = await onnx.OnnxEngine.create(bytes, { threads });
  try {
    const batch = toImageBatch(x);
    const seconds: number[] = [];
    let last: ScoreBatch | undefined;
    for (let rep = 0; rep < task.warmup + task.reps; rep++) {
      const t0 = performance.now();
      for (let i = 0; i < task.inner; i++) last = await engine.score(batch);
      const dt = (performance.now() - t0) / 1000 / task.inner;
      if (rep >= task.warmup) seconds.push(dt);
    }
    if (!last) throw new Error('no timed call');
    const ref = await detector.score(x);
    const score = relativeError(last.scores, ref.scores);
    const error = relativeError(last.reconstructionErrors, ref.reconstructionErrors);
    const tolerance = onnx.PARITY_TOLERANCE;
    return {
      seconds,
      description: engine.description,
      threads,
      weightsDigest: digest,
      onnxBytes: bytes.byteLength,
      // NaN compares false: a NaN fails.
      parity: { score, error, tolerance, ok: score <= tolerance && error <= tolerance },
    };
  } finally {
    await engine.dispose();
  }
}

const TSX_LOADER = import.meta.resolve('tsx');

/** Messages from one worker, awaited one by one. */
class WorkerLink {
  private inbox: FromWorker[] = [];
  private waiting?: (m: FromWorker) => void;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => this.push(m));
    worker.on('error', (e) => this.push({ type: 'error', message: e.stack ?? e.message }));
    worker.on('exit', (code) => this.push({ type: 'error', message: `worker exited with code ${code}` }));
  }

  private push(m: FromWorker): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w(m);
    } else this.inbox.push(m);
  }

  async expect<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>> {
    const m = this.inbox.shift() ?? (await new Promise<FromWorker>((resolve) => (this.waiting = resolve)));
    if (m.type === 'error') throw new Error(`scoring worker: ${m.message}`);
    if (m.type !== type) throw new Error(`scoring worker: expected '${type}', got '${m.type}'`);
    return m as Extract<FromWorker, { type: T }>;
  }
}

/**
 * All cores: `workers` worker threads, each with its own backend and detector, score their batches at the
 * same time. A round = every worker makes `inner` calls; its wall time (first 'run' sent to last 'done'
 * received) is what is timed, so the aggregate rate is workers x batch x inner / round time.
 */
async function timeWorkers(
  task: Task,
  workers: number,
): Promise<{
  seconds: number[];
  perWorkerSeconds: number[][];
  leakedTensors: number;
  backends: string[];
  digests: string[];
}> {
  const data: WorkerTask = {
    method: task.method,
    size: task.size,
    channels: task.channels,
    batch: task.batch,
    mode: task.mode,
    steps: task.steps,
    inner: task.inner,
    seed: task.seed,
  };
  const links: WorkerLink[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      // The worker is TypeScript: it gets tsx's loader as the main thread has it (npm run bench = tsx),
      // resolved from here so that the working directory does not matter.
      const w = new Worker(new URL('./ml-worker.ts', import.meta.url), {
        workerData: { ...data, seed: task.seed + i },
        execArgv: ['--import', TSX_LOADER],
      });
      links.push(new WorkerLink(w));
    }
    const ready = await Promise.all(links.map((l) => l.expect('ready')));
    const backends = ready.map((m) => m.backend);
    const digests = ready.map((m) => m.weightsDigest);
    const seconds: number[] = [];
    const perWorkerSeconds: number[][] = [];
    for (let rep = 0; rep < task.warmup + task.reps; rep++) {
      const t0 = performance.now();
      const done = links.map((l) => l.expect('done'));
      for (const l of links) l.worker.postMessage({ type: 'run' });
      const each = (await Promise.all(done)).map((m) => m.seconds / task.inner);
      const dt = (performance.now() - t0) / 1000 / task.inner;
      if (rep >= task.warmup) {
        seconds.push(dt);
        perWorkerSeconds.push(each);
      }
    }
    const stopped = links.map((l) => l.expect('stopped'));
    for (const l of links) l.worker.postMessage({ type: 'stop' });
    const leakedTensors = (await Promise.all(stopped)).reduce((n, m) => n + m.leakedTensors, 0);
    return { seconds, perWorkerSeconds, leakedTensors, backends, digests };
  } finally {
    await Promise.all(links.map((l) => l.worker.terminate()));
  }
}

// ------------------------------------------------------------------------------------------ formatting

const fmtRate = (v: number): string =>
  !Number.isFinite(v)
    ? '-'
    : v >= 100
      ? v.toFixed(0)
      : v >= 10
        ? v.toFixed(1)
        : v >= 1
          ? v.toFixed(2)
          : v.toPrecision(2);
const fmtSide = (s?: Side): string =>
  s
    ? `${fmtRate(s.imagesPerSecond.median)} (${fmtRate(s.imagesPerSecond.min)}–${fmtRate(s.imagesPerSecond.max)})`
    : '-';
// A time ratio r (this engine's seconds per image over the other's) read as a speed: "4.93x slower" or
// "3.4x faster" (1/r), so both directions read naturally.
const fmtRatio = (r?: number): string =>
  r === undefined || !Number.isFinite(r)
    ? '-'
    : r >= 1
      ? `${r.toFixed(2)}x slower`
      : `${(1 / r).toFixed(2)}x faster`;
const sizeLabel = (r: { size: number; channels: number }): string => `${r.size}x${r.size}x${r.channels}`;
const threadsLabel = (r: Row): string => (r.threads === 1 ? '1' : `all (${r.threads})`);
const metricLabel = (r: Row): string =>
  r.metric === 'train'
    ? 'train step'
    : r.mode === 'search'
      ? `score (${ANOGAN_GAMMA}-step search, extrapolated from ${r.steps} steps)`
      : 'score';
const rowLabel = (r: Omit<Row, Measured>): string =>
  `${r.method} ${sizeLabel(r)} ${r.metric === 'train' ? 'train' : r.mode === 'search' ? `score(search ${r.steps})` : 'score'} b${r.batch} ${r.threads === 1 ? '1 thread' : `${r.threads} workers/threads`}`;

const fmtErr = (v: number): string => (v === 0 ? '0' : Number.isFinite(v) ? v.toExponential(1) : String(v));
const fmtParity = (p: Parity): string =>
  `${p.ok ? 'ok' : 'FAIL'} (score ${fmtErr(p.score)}, error ${fmtErr(p.error)})`;

/** An ONNX Runtime cell: `value` when the row has an ORT side, else why not ('-' for training rows). */
function onnxCell(r: Row, value: (o: NonNullable<Row['onnx']>) => string, failure = '-'): string {
  if (r.onnx) return value(r.onnx);
  if (r.onnxSkipped) return r.onnxSkipped;
  if (r.onnxError !== undefined) return failure;
  return '-';
}

/** A ratio with ORT in it: only meaningful when ORT computed what tfjs computed. */
const fmtOnnxRatio = (r: Row, ratio?: number): string =>
  onnxCell(r, (o) => (o.parity.ok ? fmtRatio(ratio) : 'invalid: outputs differ'));

function table(rows: Row[], withTorch: boolean, withOnnx: boolean): string {
  // [heading, right-aligned, cell]
  const cols: [string, boolean, (r: Row) => string][] = [
    ['Method', false, (r) => r.method],
    ['Size', false, sizeLabel],
    ['Batch', true, (r) => String(r.batch)],
    ['Threads', true, threadsLabel],
    ['Metric', false, metricLabel],
    ['tfjs img/s median (min–max)', true, (r) => fmtSide(r.tfjs)],
  ];
  if (withOnnx)
    cols.push([
      'ORT img/s median (min–max)',
      true,
      (r) => onnxCell(r, (o) => fmtSide(o), `failed: ${r.onnxError ?? '?'}`),
    ]);
  if (withTorch)
    cols.push(
      [
        'PyTorch img/s median (min–max)',
        true,
        (r) => (r.torch ? fmtSide(r.torch) : `failed: ${r.torchError ?? '?'}`),
      ],
      ['tfjs / PyTorch', true, (r) => fmtRatio(r.ratio)],
    );
  if (withOnnx && withTorch) cols.push(['ORT / PyTorch', true, (r) => fmtOnnxRatio(r, r.onnxVsTorch)]);
  if (withOnnx)
    cols.push(
      ['ORT / tfjs', true, (r) => fmtOnnxRatio(r, r.onnxVsTfjs)],
      ['ORT = tfjs (relative error)', false, (r) => onnxCell(r, (o) => fmtParity(o.parity))],
    );
  const lines = [
    `| ${cols.map(([h]) => h).join(' | ')} |`,
    `|${cols.map(([, right]) => (right ? '---:' : '---')).join('|')}|`,
  ];
  for (const r of rows) lines.push(`| ${cols.map(([, , cell]) => cell(r)).join(' | ')} |`);
  return lines.join('\n');
}

interface Slowdown {
  size: string;
  batch: number;
  threads: number;
  tfjs: number;
  torch?: number;
}

/** How many times longer AnoGAN takes per image than EGBAD (its 500-step search against one forward pass). */
function anoganVsEgbad(rows: Row[]): Slowdown[] {
  const out: Slowdown[] = [];
  for (const a of rows.filter((r) => r.method === 'anogan' && r.metric === 'score')) {
    const e = rows.find(
      (r) =>
        r.method === 'egbad' &&
        r.metric === 'score' &&
        r.size === a.size &&
        r.channels === a.channels &&
        r.batch === a.batch &&
        r.threads === a.threads,
    );
    if (!e) continue;
    out.push({
      size: sizeLabel(a),
      batch: a.batch,
      threads: a.threads,
      tfjs: e.tfjs.imagesPerSecond.median / a.tfjs.imagesPerSecond.median,
      torch: a.torch && e.torch ? e.torch.imagesPerSecond.median / a.torch.imagesPerSecond.median : undefined,
    });
  }
  return out;
}

interface Target {
  row: string;
  ratio?: number;
  met?: boolean;
  /** The same row's ORT / PyTorch (scoring rows with an ORT side whose outputs match tfjs's). */
  onnxRatio?: number;
}

/** The issue's targets: GANomaly at batch 32 and one thread, scoring and a training step within 3x of PyTorch. */
function targets(rows: Row[]): Target[] {
  return rows
    .filter((r) => r.method === 'ganomaly' && r.threads === 1 && r.batch === 32)
    .map((r) => ({
      row: `ganomaly ${sizeLabel(r)} ${r.metric === 'train' ? 'training step' : 'scoring'} batch 32, 1 thread`,
      ratio: r.ratio,
      met: r.ratio === undefined ? undefined : r.ratio <= 3,
      onnxRatio: r.onnx?.parity.ok ? r.onnxVsTorch : undefined,
    }));
}

// ------------------------------------------------------------------------------------------ main

const REFERENCE_BLAS_WARNING =
  "PyTorch runs on netlib's reference BLAS (Debian's libblas3): its transposed convolutions and dense layers " +
  'use unoptimised matrix products there, which makes PyTorch several times slower than with OpenBLAS or MKL ' +
  'and the ratios flatter tfjs. See bench/README.md (--torch-lib-path, libopenblas0-pthread).';

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = new Date();
  const status = await selectBackend();
  const backendLine = describeBackend(status);
  const machine = describeMachine();
  const wasmThreads = status.tfjsName === 'wasm' ? getThreadsCount() : undefined;
  const versions = {
    node: process.version,
    tfjs: tf.version.tfjs,
    tfjsBackendWasm: version_wasm,
    onnxruntime: undefined as string | undefined,
    torch: undefined as string | undefined,
    python: undefined as string | undefined,
    torchBlas: undefined as TorchResult['blas'] | undefined,
    torchBuild: undefined as TorchResult['build'] | undefined,
  };

  const header = [
    `# ML benchmark: tfjs ${tf.version.tfjs}${o.onnx ? ' vs ONNX Runtime' : ''}${o.torch ? ' vs PyTorch' : ''}`,
    '',
    `- Date: ${started.toISOString()}`,
    `- ${backendLine}${wasmThreads !== undefined ? ` [wasm threads per engine: ${wasmThreads}]` : ''}`,
    `- Machine: ${machine.cpu}, ${machine.cpus} logical CPUs (${machine.availableParallelism} available), ${machine.memoryGiB} GiB, ${machine.platform} ${machine.release} ${machine.arch}; CPU features: ${machine.cpuFlags.join(' ') || 'unknown'}; load average at start ${machine.loadavg.join(' / ')}`,
    `- Node ${process.version}`,
  ];

  const onnx: OnnxModule | undefined = o.onnx ? await import('../src/ml/onnx') : undefined;
  if (o.onnx) versions.onnxruntime = (await import('onnxruntime-node')).env.versions.node;
  if (o.onnx)
    header.push(
      `- ONNX Runtime: onnxruntime-node ${versions.onnxruntime} (CPU execution provider; one InferenceSession per row, intraOpNumThreads = the row's threads, interOpNumThreads 1, graph optimisation 'all'), scoring the row's tfjs detector exported with exportOnnx (GANomaly and EGBAD)`,
    );
  console.log(header.slice(2).join('\n'));

  const planned = plan(o);
  const rows: Row[] = [];
  const t00 = performance.now();
  for (const [i, p] of planned.entries()) {
    const tag = `[${i + 1}/${planned.length}] ${rowLabel(p)}`;
    console.error(`${tag} ...`);
    const t0 = performance.now();
    const task = taskOf(p, o);
    const before = tf.memory().numTensors;
    // GANomaly and EGBAD scoring rows get an ONNX Runtime side, after the tfjs side and never beside it.
    const wantsOnnx = onnx !== undefined && p.metric === 'score' && p.mode === 'score';
    let onnxOutcome: Outcome<OnnxTiming> | undefined;
    let tfjs: Row['tfjs'];
    if (p.threads === 1) {
      // ORT exports and scores the very detector that tfjs has just timed, on the same batch.
      const r = await timeHere(
        task,
        wantsOnnx ? (detector, x) => attempt(() => timeOnnx(onnx, detector, x, task, 1)) : undefined,
      );
      onnxOutcome = r.then;
      tfjs = {
        ...side(r.seconds, p.batch, p.extrapolation),
        workers: 1,
        leakedTensors: tf.memory().numTensors - before,
        params: r.params,
        weightsDigest: onnxOutcome && 'value' in onnxOutcome ? onnxOutcome.value.weightsDigest : undefined,
      };
    } else {
      const r = await timeWorkers(task, p.threads);
      const digests = [...new Set(r.digests)];
      if (digests.length !== 1)
        console.error(`  warning: the workers' detectors have different weights (${digests.length} digests)`);
      if (wantsOnnx) {
        // One session with intraOpNumThreads = the row's threads (ORT parallelises inside a session), on
        // a detector built here with the same config and seed as the workers' (checked by weight digest),
        // scoring the batch worker 0 scored.
        const { detector, x } = setUp(task);
        try {
          onnxOutcome = await attempt(async () => {
            const t = await timeOnnx(onnx, detector, x, task, p.threads);
            if (!r.digests.every((d) => d === t.weightsDigest))
              throw new Error('the exported detector has other weights than the tfjs workers');
            return t;
          });
        } finally {
          detector.dispose();
          x.dispose();
        }
      }
      tfjs = {
        ...side(r.seconds, p.batch * p.threads, p.extrapolation),
        workers: p.threads,
        perWorkerSeconds: r.perWorkerSeconds,
        leakedTensors: r.leakedTensors + (tf.memory().numTensors - before),
        params: {},
        weightsDigest: digests.length === 1 ? digests[0] : undefined,
      };
      if (new Set(r.backends).size !== 1 || r.backends[0] !== backendLine)
        console.error(`  note: a worker runs another backend: ${[...new Set(r.backends)].join(' | ')}`);
    }
    if (tfjs.leakedTensors !== 0)
      console.error(`  warning: ${tfjs.leakedTensors} tensors left after the row (memory not flat)`);
    const row: Row = { ...p, tfjs };
    if (onnxOutcome && 'value' in onnxOutcome) {
      const t = onnxOutcome.value;
      row.onnx = { ...side(t.seconds, p.batch, p.extrapolation), ...t };
      row.onnxVsTfjs = tfjs.imagesPerSecond.median / row.onnx.imagesPerSecond.median;
      if (!t.parity.ok)
        console.error(
          `  warning: ONNX Runtime and tfjs outputs differ beyond ${t.parity.tolerance} relative: ${fmtParity(t.parity)}`,
        );
    } else if (onnxOutcome) {
      row.onnxError = onnxOutcome.error;
      console.error(`  ONNX Runtime failed: ${row.onnxError}`);
    }
    if (o.torch) {
      try {
        const t: TorchResult = runTorch(o.python, task, p.threads, o.torchLibPath);
        if (!versions.torch && t.blas.kind === 'reference')
          console.error(`  warning: ${REFERENCE_BLAS_WARNING}`);
        versions.torch = t.torch;
        versions.python = t.python;
        versions.torchBlas = t.blas;
        versions.torchBuild = t.build;
        const ours = p.threads === 1 ? tfjs.params : undefined;
        const paramsMatch = ours ? sameCounts(ours, t.trainable_params) : true;
        if (!paramsMatch)
          console.error(
            `  warning: PyTorch networks differ from tfjs: ${JSON.stringify(t.trainable_params)} vs ${JSON.stringify(ours)}`,
          );
        row.torch = {
          ...side(t.seconds, p.batch, p.extrapolation),
          threads: t.threads,
          params: t.trainable_params,
          paramsMatch,
        };
        row.ratio = row.torch.imagesPerSecond.median / tfjs.imagesPerSecond.median;
        if (row.onnx) row.onnxVsTorch = row.torch.imagesPerSecond.median / row.onnx.imagesPerSecond.median;
      } catch (e) {
        row.torchError = e instanceof Error ? e.message : String(e);
        console.error(`  PyTorch failed: ${row.torchError}`);
      }
    }
    rows.push(row);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const ortPart = row.onnx
      ? ` | ORT ${fmtSide(row.onnx)} img/s, ORT / tfjs ${fmtOnnxRatio(row, row.onnxVsTfjs)}, ORT = tfjs ${fmtParity(row.onnx.parity)}`
      : '';
    const torchPart = row.torch
      ? ` | PyTorch ${fmtSide(row.torch)} img/s | tfjs / PyTorch ${fmtRatio(row.ratio)}${row.onnx ? `, ORT / PyTorch ${fmtOnnxRatio(row, row.onnxVsTorch)}` : ''}`
      : '';
    console.error(`${tag}: tfjs ${fmtSide(row.tfjs)} img/s${ortPart}${torchPart} [${secs} s]`);
  }

  const slow = anoganVsEgbad(rows);
  const goals = o.torch ? targets(rows) : [];
  const md: string[] = [...header];
  if (versions.torch) {
    const blas = versions.torchBlas;
    md.push(
      `- PyTorch ${versions.torch} (Python ${versions.python}; BLAS_INFO=${versions.torchBuild?.BLAS_INFO ?? '?'}, oneDNN ${versions.torchBuild?.USE_MKLDNN ?? '?'}, ${versions.torchBuild?.cpu_capability ?? '?'}), bench/torch_ref.py; BLAS loaded: ${blas?.kind ?? '?'} (${blas?.libraries.join(', ') || 'none'})`,
    );
    if (blas?.kind === 'reference') md.push(`- **Warning:** ${REFERENCE_BLAS_WARNING}`);
  }
  md.push(
    `- Settings: ${o.reps} timed reps after ${o.warmup} warm-up rep(s) per row; training batch ${o.trainBatch}; inputs uniform in [-1, 1]; product default configs (nz 100, ngf = ndf 64)`,
    `- Total time: ${((performance.now() - t00) / 1000).toFixed(0)} s`,
    '',
    table(rows, o.torch, o.onnx),
    '',
    `Images/s: median over the timed reps, (min–max) across them. Threads 1: one tfjs engine in one thread${o.onnx ? '; ORT one session with intraOpNumThreads 1' : ''}; PyTorch \`torch.set_num_threads(1)\`.`,
    `Threads all (N): tfjs runs N worker threads, each with its own engine and detector, scoring at the same time (aggregate images/s)${o.onnx ? '; ORT runs one session with intraOpNumThreads N on one batch (ORT parallelises inside a session)' : ''}; PyTorch runs one process with \`torch.set_num_threads(N)\` (that is how PyTorch uses cores).`,
    `Score rows time the scores and reconstruction errors of a batch, no maps or reconstructions asked for, on every engine (tfjs \`detector.score(x)\`${o.onnx ? ', ORT `OnnxEngine.score(batch)`' : ''}, PyTorch \`score(x)\`).`,
    `AnoGAN scoring is its per-image latent search (${ANOGAN_GAMMA} steps in the product): ${o.anoganSteps} steps are timed and the time is scaled by ${ANOGAN_GAMMA}/${o.anoganSteps}.${o.onnx ? ' AnoGAN has no ONNX form (the search needs gradients): n/a (tfjs only).' : ''}`,
  );
  if (o.torch)
    md.push(
      `tfjs / PyTorch: tfjs seconds per image over PyTorch seconds per image (medians); above 1 tfjs is slower.`,
    );
  if (o.onnx)
    md.push(
      `${o.torch ? 'ORT / PyTorch, ' : ''}ORT / tfjs: ORT seconds per image over the other's (medians); above 1 ORT is slower. ORT = tfjs: relativeError (src/ml/engine.ts) of ORT's scores and reconstruction errors from its last timed call against tfjs \`detector.score\` of the same detector on the same batch; ok within ${rows.find((r) => r.onnx)?.onnx?.parity.tolerance ?? 1e-4}, else the ORT ratios are shown as invalid.`,
    );
  if (slow.length) {
    md.push(
      '',
      '## AnoGAN vs EGBAD scoring',
      '',
      '| Size | Batch | Threads | AnoGAN slower than EGBAD (tfjs) | (PyTorch) |',
      '|---|---:|---:|---:|---:|',
    );
    for (const s of slow)
      md.push(
        `| ${s.size} | ${s.batch} | ${s.threads === 1 ? '1' : `all (${s.threads})`} | ${s.tfjs.toFixed(0)}x | ${s.torch === undefined ? '-' : `${s.torch.toFixed(0)}x`} |`,
      );
  }
  if (goals.length) {
    md.push(
      '',
      `## Targets (GANomaly, batch 32, one thread: within 3x of PyTorch on ${versions.torchBlas?.kind ?? '?'} BLAS)`,
      '',
      `| Row | tfjs / PyTorch | Target met |${o.onnx ? ' ORT / PyTorch (scoring) |' : ''}`,
      `|---|---:|---|${o.onnx ? '---:|' : ''}`,
    );
    for (const g of goals)
      md.push(
        `| ${g.row} | ${fmtRatio(g.ratio)} | ${g.met === undefined ? '-' : g.met ? 'yes' : 'no'} |${o.onnx ? ` ${fmtRatio(g.onnxRatio)} |` : ''}`,
      );
  }
  const mismatched = rows.filter((r) => r.torch && !r.torch.paramsMatch);
  if (mismatched.length)
    md.push(
      '',
      `**Warning:** the PyTorch networks' parameter counts differ from tfjs's in ${mismatched.length} row(s); see ml.json.`,
    );
  const differ = rows.filter((r) => r.onnx && !r.onnx.parity.ok);
  if (differ.length)
    md.push(
      '',
      `**Warning:** ONNX Runtime's outputs differ from tfjs's in ${differ.length} row(s) (ORT = tfjs column): their ORT speeds compare different results and their ORT ratios are not valid.`,
    );
  const onnxFailed = rows.filter((r) => r.onnxError !== undefined);
  if (onnxFailed.length)
    md.push('', `**Warning:** ONNX Runtime failed in ${onnxFailed.length} row(s) (onnxError in ml.json).`);
  const leaked = rows.filter((r) => r.tfjs.leakedTensors !== 0);
  if (leaked.length)
    md.push(
      '',
      `**Warning:** tensors were left over after ${leaked.length} row(s) (tfjs.leakedTensors in ml.json).`,
    );

  const json = {
    date: started.toISOString(),
    backend: { ...status, description: backendLine, wasmThreads },
    machine,
    versions,
    settings: o,
    rows,
    anoganVsEgbad: slow,
    targets: goals,
  };
  mkdirSync(o.out, { recursive: true });
  writeFileSync(path.join(o.out, 'ml.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(path.join(o.out, 'ml.md'), `${md.join('\n')}\n`);
  console.log('');
  console.log(md.slice(header.length).join('\n'));
  console.error(`wrote ${path.join(o.out, 'ml.json')} and ${path.join(o.out, 'ml.md')}`);
  if (differ.length || onnxFailed.length) {
    // The numbers are written; the exit status tells a script that some ORT rows are not comparable.
    console.error(
      `bench: ONNX Runtime ${differ.length ? `disagrees with tfjs in ${differ.length} row(s)` : ''}${differ.length && onnxFailed.length ? ' and ' : ''}${onnxFailed.length ? `failed in ${onnxFailed.length} row(s)` : ''}`,
    );
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
