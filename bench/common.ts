// Shared by the ML benchmark's main script (bench/ml.ts) and its scoring workers (bench/ml-worker.ts):
// statistics, the worker protocol, the PyTorch reference runner and the machine description.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { createDetector, defaultConfig, type Detector, type ImageBatch, type Method } from '../src/ml';
import { Anogan } from '../src/ml/models/anogan';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

/** AnoGAN's latent search length in the product (ANOGAN_DEFAULTS.searchSteps): what its scoring costs. */
export const ANOGAN_GAMMA = 500;

// ------------------------------------------------------------------------------------------ statistics

export interface Summary {
  median: number;
  min: number;
  max: number;
  q1: number;
  q3: number;
  n: number;
}

/** Linear-interpolation quantile of sorted values (the same as numpy's default). */
function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    median: quantile(s, 0.5),
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN,
    q1: quantile(s, 0.25),
    q3: quantile(s, 0.75),
    n: s.length,
  };
}

// ------------------------------------------------------------------------------------------ what is timed

/** What one call does: a training step, a scoring call (no maps), or AnoGAN's latent search of `steps`. */
export type Mode = 'train' | 'score' | 'search';

export interface Task {
  method: Method;
  size: number;
  channels: 1 | 3;
  batch: number;
  mode: Mode;
  /** AnoGAN search steps per call (mode 'search'). */
  steps?: number;
  /** Calls per rep; a rep's time is divided by it (seconds per call). */
  inner: number;
  warmup: number;
  reps: number;
  seed: number;
}

/** A detector with the product's default config and a random batch in [-1, 1] to feed it. */
export function setUp(task: Pick<Task, 'method' | 'size' | 'channels' | 'batch' | 'seed'>): {
  detector: Detector;
  x: tf.Tensor4D;
} {
  const detector = createDetector(defaultConfig(task.method, task.size, task.channels));
  const x = tf.randomUniform(
    [task.batch, task.size, task.size, task.channels],
    -1,
    1,
    'float32',
    task.seed,
  ) as tf.Tensor4D;
  return { detector, x };
}

/** The batch tensor's values as the ImageBatch that the ONNX Runtime engine takes (a copy). */
export function toImageBatch(x: tf.Tensor4D): ImageBatch {
  const [n, height, width, channels] = x.shape;
  return { data: Float32Array.from(x.dataSync()), n, height, width, channels };
}

/**
 * SHA-256 of every weight of every network (trainable and not: BatchNorm's moving statistics too), in
 * the networks' order of names and the layers' order of weights. Values and shapes only (tfjs may rename
 * variables built twice in one thread). Equal digests: the same network, weight for weight.
 */
export function weightsDigest(detector: Detector): string {
  const h = createHash('sha256');
  const nets = Object.entries(detector.networks()).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, model] of nets) {
    h.update(`${name}:`);
    for (const w of model.weights) {
      const t = w.read();
      h.update(`[${t.shape.join(',')}]`);
      const v = t.dataSync() as Float32Array;
      h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
  }
  return h.digest('hex');
}

/** One timed call; resolves when its results are on the CPU (trainStep and score read their outputs). */
export async function callOnce(detector: Detector, x: tf.Tensor4D, mode: Mode, steps = 0): Promise<void> {
  if (mode === 'train') {
    detector.trainStep(x);
  } else if (mode === 'score') {
    await detector.score(x);
  } else {
    if (!(detector instanceof Anogan)) throw new Error('search mode is AnoGAN only');
    const z = detector.searchLatent(x, steps);
    await z.data();
    z.dispose();
  }
}

/** Seconds per call of each rep, warm-up reps excluded. */
export async function timeCalls(detector: Detector, x: tf.Tensor4D, task: Task): Promise<number[]> {
  const out: number[] = [];
  for (let rep = 0; rep < task.warmup + task.reps; rep++) {
    const t0 = performance.now();
    for (let i = 0; i < task.inner; i++) await callOnce(detector, x, task.mode, task.steps);
    const dt = (performance.now() - t0) / 1000 / task.inner;
    if (rep >= task.warmup) out.push(dt);
  }
  return out;
}

/** Trainable parameters per network, to check that the PyTorch reference builds the same networks. */
export function trainableParams(detector: Detector): Record<string, number> {
  return Object.fromEntries(
    Object.entries(detector.networks()).map(([name, m]) => [
      name,
      m.trainableWeights.reduce((n, w) => n + w.read().size, 0),
    ]),
  );
}

// ------------------------------------------------------------------------------------------ worker protocol

export type ToWorker = { type: 'run' } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready'; backend: string; weightsDigest: string }
  | { type: 'done'; seconds: number }
  | { type: 'stopped'; leakedTensors: number }
  | { type: 'error'; message: string };

/** What a scoring worker is given: one detector, one batch, `inner` calls per 'run'. */
export type WorkerTask = Pick<
  Task,
  'method' | 'size' | 'channels' | 'batch' | 'mode' | 'steps' | 'inner' | 'seed'
>;

// ------------------------------------------------------------------------------------------ PyTorch

export interface TorchResult {
  seconds: number[];
  /** The BLAS library the Python process mapped: 'reference' (netlib), 'openblas', 'mkl', ... */
  blas: { kind: string; libraries: string[] };
  build: Record<string, string | null>;
  threads: number;
  interop_threads: number;
  torch: string;
  python: string;
  mkldnn: boolean;
  trainable_params: Record<string, number>;
  parallel_info: string[];
}

/**
 * Run bench/torch_ref.py for the same task and thread count; throws with its stderr when it fails.
 * `libPath` goes first on the child's LD_LIBRARY_PATH (e.g. a folder with an optimised libblas.so.3).
 */
export function runTorch(python: string, task: Task, threads: number, libPath?: string): TorchResult {
  const script = path.join(BENCH_DIR, 'torch_ref.py');
  const args = [
    script,
    `--method=${task.method}`,
    `--size=${task.size}`,
    `--channels=${task.channels}`,
    `--batch=${task.batch}`,
    `--threads=${threads}`,
    `--mode=${task.mode}`,
    `--steps=${task.steps ?? 0}`,
    `--reps=${task.reps}`,
    `--warmup=${task.warmup}`,
    `--inner=${task.inner}`,
    `--seed=${task.seed}`,
  ];
  // torch.set_num_threads sizes PyTorch's OpenMP pool; the variables keep the BLAS libraries (which
  // Debian's torch calls for transposed convolutions and dense layers) to the same thread count.
  const n = String(threads);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: n,
    MKL_NUM_THREADS: n,
    OPENBLAS_NUM_THREADS: n,
  };
  if (libPath)
    env.LD_LIBRARY_PATH = [path.resolve(libPath), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  const r = spawnSync(python, args, { encoding: 'utf8', env, maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`${python} ${path.basename(script)}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(
      `${python} ${path.basename(script)} exited ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as TorchResult;
}

// ------------------------------------------------------------------------------------------ machine

export interface Machine {
  cpu: string;
  /** Logical CPUs the OS reports, and how many this process may use (cgroups, affinity). */
  cpus: number;
  availableParallelism: number;
  cpuFlags: string[];
  memoryGiB: number;
  platform: string;
  release: string;
  arch: string;
  hostname: string;
  /** 1-, 5- and 15-minute load averages when the benchmark started: a busy machine skews every row. */
  loadavg: number[];
}

export function describeMachine(): Machine {
  let flags: string[] = [];
  if (existsSync('/proc/cpuinfo')) {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    const have = new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
    flags = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_vnni', 'amx_tile'].filter((f) => have.has(f));
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    cpuFlags: flags,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    hostname: os.hostname(),
    loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}
