// Picks the tfjs backend for this process: tfjs-node-gpu > tfjs-node > wasm > cpu, and says which one runs
// and why the faster ones did not. Native backends are optional installs (their libtensorflow download
// fails on offline build machines), so every step may legitimately fail; the reasons are kept for the
// status line that every CLI run and the UI print.
import * as tf from '@tensorflow/tfjs';
import { registerCompositeKernels } from './kernels/composite';
import { registerGradientFixes } from './kernels/gradients';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendStatus {
  /** The backend that runs (its tfjs name is `tfjsName`). */
  name: BackendName;
  tfjsName: string;
  /** Why each backend before it was not used. */
  skipped: { name: BackendName; reason: string }[];
  /** Kernels replaced by composites of the backend's own fast ops (see kernels/composite). */
  compositeKernels: string[];
  /** Whether the choice was forced by an override. */
  forced: boolean;
  simd?: boolean;
}

/** The package that provides each backend. */
const PACKAGE: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs (built-in cpu)',
};

let current: BackendStatus | undefined;

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 200);
}

async function tryNative(name: 'tensorflow-gpu' | 'tensorflow'): Promise<string | undefined> {
  try {
    // The native packages register the 'tensorflow' backend on import; a missing libtensorflow binding
    // throws here. Imported by a variable name so bundlers for the browser never try to resolve them.
    const pkg = PACKAGE[name];
    await quietly(() => import(/* @vite-ignore */ pkg));
  } catch (e) {
    const msg = firstLine(e);
    if (/tfjs_binding\.node/.test(msg)) {
      return `${PACKAGE[name]}: native binding not installed (its libtensorflow download did not run or failed during npm install)`;
    }
    return `${PACKAGE[name]} not usable: ${msg}`;
  }
  if (!(await tf.setBackend('tensorflow')))
    return `${PACKAGE[name]} loaded but the backend failed to initialise`;
  if (name === 'tensorflow-gpu') {
    // tfjs-node-gpu silently runs on the CPU when CUDA/cuDNN are missing; believe it only if TF sees a GPU.
    const gpu = await nativeSeesGpu();
    if (!gpu) return `${PACKAGE[name]} loaded but TensorFlow found no CUDA GPU (needs CUDA 11.2 + cuDNN 8.1)`;
  }
  return undefined;
}

/** A failed native import has already registered its kernels; a second native package would then print
 * one warning per kernel (hundreds of lines). Those warnings say nothing useful, so they are muted. */
async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = () => {};
  try {
    return await f();
  } finally {
    console.warn = warn;
  }
}

async function nativeSeesGpu(): Promise<boolean> {
  try {
    const b = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
    return b.isUsingGpuDevice === true;
  } catch {
    return false;
  }
}

/**
 * Select and initialise a backend. `prefer` (or env STATION_BACKEND) forces one; otherwise the first that
 * works in BACKEND_ORDER wins. Idempotent: a second call returns the first call's status.
 */
export async function selectBackend(prefer?: string): Promise<BackendStatus> {
  if (current) return current;
  const envPrefer = typeof process !== 'undefined' ? process.env?.STATION_BACKEND : undefined;
  const wanted = (prefer ?? envPrefer ?? '').trim();
  if (wanted && !BACKEND_ORDER.includes(wanted as BackendName)) {
    throw new Error(`unknown backend "${wanted}"; choose one of ${BACKEND_ORDER.join(', ')}`);
  }
  const order = wanted ? [wanted as BackendName] : BACKEND_ORDER;
  const skipped: BackendStatus['skipped'] = [];
  for (const name of order) {
    let reason: string | undefined;
    if (name === 'tensorflow-gpu' || name === 'tensorflow') {
      reason = await tryNative(name);
    } else if (name === 'wasm') {
      try {
        await import('@tensorflow/tfjs-backend-wasm');
        if (!(await tf.setBackend('wasm'))) reason = 'wasm backend failed to initialise';
      } catch (e) {
        reason = `${PACKAGE.wasm} not usable: ${firstLine(e)}`;
      }
    } else {
      if (!(await tf.setBackend('cpu'))) reason = 'cpu backend failed to initialise';
    }
    if (reason) {
      skipped.push({ name, reason });
      continue;
    }
    await tf.ready();
    const tfjsName = tf.getBackend();
    current = {
      name,
      tfjsName,
      skipped,
      compositeKernels: [
        ...registerCompositeKernels(tfjsName),
        ...registerGradientFixes().map((g) => `${g} gradient`),
      ],
      forced: Boolean(wanted),
      simd: tfjsName === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : undefined,
    };
    return current;
  }
  throw new Error(`no tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

/** One line for logs and the UI: which backend runs and why the others did not. */
export function describeBackend(s: BackendStatus): string {
  const extra: string[] = [];
  if (s.simd !== undefined) extra.push(s.simd ? 'SIMD' : 'no SIMD');
  if (s.compositeKernels.length) extra.push(`composite kernels: ${s.compositeKernels.join(', ')}`);
  if (s.forced) extra.push('forced');
  const head = `ML backend: ${s.name}${extra.length ? ` (${extra.join('; ')})` : ''}`;
  const why = s.skipped.map((k) => `${k.name}: ${k.reason}`).join('; ');
  return why ? `${head}; not used: ${why}` : head;
}

/** For tests: forget the selection so a test can select again. */
export function resetBackendSelectionForTests(): void {
  current = undefined;
}
