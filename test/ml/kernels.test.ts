// Tests for src/ml/kernels/composite.ts: the composite Conv2DBackpropFilter / Conv2DBackpropInput
// kernels on wasm and cpu must match the cpu backend's ORIGINAL kernels (the reference) on the shapes a
// DCGAN / GANomaly uses, drive tf.grad / tf.conv2dTranspose correctly, and leak nothing.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/ml/data';
import {
  compositeKernelFunc,
  originalKernel,
  registerCompositeKernels,
} from '../../src/ml/kernels/composite';

const FILTER = 'Conv2DBackpropFilter';
const INPUT = 'Conv2DBackpropInput';

/** The project's seeded PRNG, so failures reproduce. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function randomData(shape: number[], seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) out[i] = next() * 2 - 1;
  return out;
}

interface Raw {
  shape: number[];
  data: Float32Array;
}

/** The backend methods the raw (tensor-free) kernel calls below need. */
interface RawBackend {
  write(values: Float32Array, shape: number[], dtype: 'float32'): object;
  readSync(dataId: object): ArrayLike<number>;
  disposeData(dataId: object): boolean;
  numDataIds(): number;
}

function backendOf(name: string): RawBackend {
  const b = tf.findBackend(name);
  if (b === null) throw new Error(`backend ${name} not available`);
  return b as unknown as RawBackend;
}

/** Runs a kernel function directly on a backend instance, on TensorInfos it creates and frees itself. */
function runRaw(
  backendName: string,
  kernelFunc: tf.KernelFunc,
  inputs: Record<string, Raw>,
  attrs: Record<string, unknown>,
): Raw {
  const backend = backendOf(backendName);
  const infos: Record<string, tf.TensorInfo> = {};
  for (const [name, t] of Object.entries(inputs)) {
    infos[name] = {
      dataId: backend.write(t.data.slice(), t.shape, 'float32'),
      shape: t.shape,
      dtype: 'float32',
    };
  }
  try {
    const out = kernelFunc({ inputs: infos, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
    const data = Float32Array.from(backend.readSync(out.dataId));
    backend.disposeData(out.dataId);
    return { shape: out.shape, data };
  } finally {
    for (const info of Object.values(infos)) backend.disposeData(info.dataId);
  }
}

/** The cpu backend's original (pre-composite) kernel: the reference for everything here. */
function cpuReference(kernelName: string, inputs: Record<string, Raw>, attrs: Record<string, unknown>): Raw {
  const config = originalKernel(kernelName, 'cpu');
  if (config === undefined) throw new Error(`no original cpu ${kernelName}`);
  return runRaw('cpu', config.kernelFunc, inputs, attrs);
}

/** Runs a kernel through the registry on the current backend (the path tf ops take). */
function runRegistered(kernelName: string, inputs: Record<string, Raw>, attrs: Record<string, unknown>): Raw {
  return tf.tidy(() => {
    const tensors: tf.NamedTensorMap = {};
    for (const [name, t] of Object.entries(inputs)) tensors[name] = tf.tensor(t.data, t.shape, 'float32');
    const out = tf.engine().runKernel(kernelName, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
    return { shape: out.shape, data: out.dataSync() as Float32Array };
  });
}

/** max|a-b| / max|b| <= 1e-4, and elementwise |a-b| <= 1e-4 * (|b| + floor), floor = 1e-2 * max|b|. */
function expectClose(actual: Raw, expected: Raw, label: string): void {
  expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  expect(actual.data.length, `${label}: size`).toBe(expected.data.length);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < expected.data.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(expected.data[i]));
    maxDiff = Math.max(maxDiff, Math.abs(actual.data[i] - expected.data[i]));
  }
  expect(maxRef, `${label}: reference is all zeros`).toBeGreaterThan(0);
  expect(maxDiff / maxRef, `${label}: max relative error`).toBeLessThanOrEqual(1e-4);
  const floor = 1e-2 * maxRef;
  let bad = -1;
  for (let i = 0; i < expected.data.length && bad < 0; i++) {
    const tol = 1e-4 * (Math.abs(expected.data[i]) + floor);
    if (!(Math.abs(actual.data[i] - expected.data[i]) <= tol)) bad = i;
  }
  expect(
    bad,
    bad < 0 ? label : `${label}: element ${bad}: ${actual.data[bad]} vs ${expected.data[bad]}`,
  ).toBe(-1);
}

type Pad =
  'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  name: string;
  /** x shape in dataFormat order. */
  x: number[];
  /** [KH,KW,Ci,Co] */
  filter: number[];
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const CASES: Case[] = [
  {
    name: 'k4 s2 same 32->16 (N1, Ci3, Co8)',
    x: [1, 32, 32, 3],
    filter: [4, 4, 3, 8],
    strides: 2,
    pad: 'same',
  },
  {
    name: 'k4 s2 same 16->8 (N3, Ci8, Co8)',
    x: [3, 16, 16, 8],
    filter: [4, 4, 8, 8],
    strides: 2,
    pad: 'same',
  },
  { name: 'k4 s2 same 8->4 (N3, Ci8, Co1)', x: [3, 8, 8, 8], filter: [4, 4, 8, 1], strides: 2, pad: 'same' },
  {
    name: 'k4 s1 valid 4->1 (N3, Ci8, Co1)',
    x: [3, 4, 4, 8],
    filter: [4, 4, 8, 1],
    strides: 1,
    pad: 'valid',
  },
  // As a conv2dTranspose (Conv2DBackpropInput) this is the generator's first layer: 1x1 -> 4x4.
  {
    name: 'k4 s1 valid 1->4 transposed (N3, Ci3, Co8)',
    x: [3, 4, 4, 3],
    filter: [4, 4, 3, 8],
    strides: 1,
    pad: 'valid',
  },
  { name: 'k3 s1 same 9x9 (N3, Ci3, Co8)', x: [3, 9, 9, 3], filter: [3, 3, 3, 8], strides: 1, pad: 'same' },
  {
    name: 'k3 s2 same odd 7x9 (N3, Ci3, Co8)',
    x: [3, 7, 9, 3],
    filter: [3, 3, 3, 8],
    strides: 2,
    pad: 'same',
  },
  {
    name: 'k4 s2 same odd 7x9 (N1, Ci1, Co3)',
    x: [1, 7, 9, 1],
    filter: [4, 4, 1, 3],
    strides: 2,
    pad: 'same',
  },
  // Negative "bottom" padding: filter grad slices x (valid, trailing rows unused) ...
  {
    name: 'k4 s2 valid odd 7x9 (N3, Ci3, Co8)',
    x: [3, 7, 9, 3],
    filter: [4, 4, 3, 8],
    strides: 2,
    pad: 'valid',
  },
  {
    name: 'k3 s2 valid 8x10 (N1, Ci8, Co3)',
    x: [1, 8, 10, 8],
    filter: [3, 3, 8, 3],
    strides: 2,
    pad: 'valid',
  },
  // ... and input grad slices the zero-inserted dy (same, padTop 0, odd size).
  {
    name: 'k2 s2 same odd 7x9 (N3, Ci3, Co8)',
    x: [3, 7, 9, 3],
    filter: [2, 2, 3, 8],
    strides: 2,
    pad: 'same',
  },
  {
    name: 'k1 s2 same odd 7x9 (N1, Ci3, Co1)',
    x: [1, 7, 9, 3],
    filter: [1, 1, 3, 1],
    strides: 2,
    pad: 'same',
  },
  {
    name: 'k4 s2 numeric pad 1, 8->4 (N3, Ci3, Co8)',
    x: [3, 8, 8, 3],
    filter: [4, 4, 3, 8],
    strides: 2,
    pad: 1,
  },
  {
    name: 'k3 s2 numeric pad 1 odd 7x9 (N1, Ci1, Co8)',
    x: [1, 7, 9, 1],
    filter: [3, 3, 1, 8],
    strides: 2,
    pad: 1,
  },
  {
    name: 'k3 s2 numeric pad 1 ceil rounding 8x8 (N3, Ci3, Co3)',
    x: [3, 8, 8, 3],
    filter: [3, 3, 3, 3],
    strides: 2,
    pad: 1,
    dimRoundingMode: 'ceil',
  },
  {
    name: 'k3 strides [2,1] explicit pads 7x9 (N3, Ci3, Co8)',
    x: [3, 7, 9, 3],
    filter: [3, 3, 3, 8],
    strides: [2, 1],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  {
    name: 'k4 s2 same NCHW 8x8 (N3, Ci3, Co8)',
    x: [3, 3, 8, 8],
    filter: [4, 4, 3, 8],
    strides: 2,
    pad: 'same',
    dataFormat: 'NCHW',
  },
  // 1x1 dy: VALID + filter-sized input takes the BatchMatMul path (also in NCHW) ...
  {
    name: 'k4 s1 valid 4->1 NCHW (N3, Ci3, Co8)',
    x: [3, 3, 4, 4],
    filter: [4, 4, 3, 8],
    strides: 1,
    pad: 'valid',
    dataFormat: 'NCHW',
  },
  // ... while a 1x1 dy from 'same' padding does not.
  { name: 'k4 s2 same 2->1 (N3, Ci8, Co3)', x: [3, 2, 2, 8], filter: [4, 4, 8, 3], strides: 2, pad: 'same' },
];

const caseNamed = (prefix: string): Case => {
  const c = CASES.find((k) => k.name.startsWith(prefix));
  if (c === undefined) throw new Error(`no case ${prefix}`);
  return c;
};

/** dy shape for a case (conv output, in dataFormat order). */
function dyShape(c: Case): number[] {
  const format = c.dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast';
  const info = tf.backend_util.computeConv2DInfo(
    c.x as [number, number, number, number],
    c.filter as [number, number, number, number],
    c.strides,
    1,
    c.pad,
    c.dimRoundingMode,
    false,
    format,
  );
  return info.outShape;
}

function caseData(c: Case, seed: number): { x: Raw; dy: Raw; filter: Raw } {
  const dy = dyShape(c);
  return {
    x: { shape: c.x, data: randomData(c.x, seed) },
    dy: { shape: dy, data: randomData(dy, seed + 1) },
    filter: { shape: c.filter, data: randomData(c.filter, seed + 2) },
  };
}

function filterAttrs(c: Case): Record<string, unknown> {
  return {
    strides: c.strides,
    pad: c.pad,
    dataFormat: c.dataFormat ?? 'NHWC',
    dimRoundingMode: c.dimRoundingMode,
    filterShape: c.filter,
  };
}

function inputAttrs(c: Case): Record<string, unknown> {
  return {
    strides: c.strides,
    pad: c.pad,
    dataFormat: c.dataFormat ?? 'NHWC',
    dimRoundingMode: c.dimRoundingMode,
    inputShape: c.x,
  };
}

let registeredWasm: string[] = [];
let registeredCpu: string[] = [];

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
  await tf.ready();
  // Initialise cpu too (it is the reference) without making it current.
  expect(tf.findBackend('cpu')).not.toBeNull();
  // Before registration wasm simply has no filter-gradient kernel.
  expect(tf.getKernel(FILTER, 'wasm')).toBeUndefined();
  registeredWasm = registerCompositeKernels('wasm');
  registeredCpu = registerCompositeKernels('cpu');
});

describe('registerCompositeKernels / originalKernel', () => {
  it('registers the planned kernels per backend', () => {
    expect([...registeredWasm].sort()).toEqual([FILTER, INPUT]);
    expect(registeredCpu).toEqual([FILTER]);
    expect(tf.getKernel(FILTER, 'wasm')).toBeDefined();
    expect(tf.getKernel(INPUT, 'wasm')).toBeDefined();
  });

  it('is idempotent', () => {
    const before = [FILTER, INPUT].map((k) => [tf.getKernel(k, 'wasm'), tf.getKernel(k, 'cpu')]);
    expect([...registerCompositeKernels('wasm')].sort()).toEqual([...registeredWasm].sort());
    expect(registerCompositeKernels('cpu')).toEqual(registeredCpu);
    const after = [FILTER, INPUT].map((k) => [tf.getKernel(k, 'wasm'), tf.getKernel(k, 'cpu')]);
    expect(after).toEqual(before);
    after.flat().forEach((cfg, i) => expect(cfg).toBe(before.flat()[i]));
  });

  it('does nothing for other backends', () => {
    expect(registerCompositeKernels('tensorflow')).toEqual([]);
    expect(registerCompositeKernels('webgl')).toEqual([]);
    expect(tf.getKernel(FILTER, 'tensorflow')).toBeUndefined();
  });

  it('remembers the kernels it replaced', () => {
    expect(originalKernel(FILTER, 'wasm')).toBeUndefined();
    const wasmInput = originalKernel(INPUT, 'wasm');
    expect(wasmInput).toBeDefined();
    expect(wasmInput).not.toBe(tf.getKernel(INPUT, 'wasm'));
    const cpuFilter = originalKernel(FILTER, 'cpu');
    expect(cpuFilter).toBeDefined();
    expect(cpuFilter).not.toBe(tf.getKernel(FILTER, 'cpu'));
    // Not replaced on cpu: the original is what is registered.
    expect(originalKernel(INPUT, 'cpu')).toBe(tf.getKernel(INPUT, 'cpu'));
    expect(compositeKernelFunc('Conv2D', 'cpu')).toBeUndefined();
  });
});

describe.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', (_name, c, i) => {
  const seed = 1000 + 10 * i;

  it('Conv2DBackpropFilter: wasm composite == cpu original', () => {
    const { x, dy } = caseData(c, seed);
    const ref = cpuReference(FILTER, { x, dy }, filterAttrs(c));
    expectClose(runRegistered(FILTER, { x, dy }, filterAttrs(c)), ref, 'wasm filter grad');
  });

  it('Conv2DBackpropFilter: cpu composite == cpu original', () => {
    const { x, dy } = caseData(c, seed);
    const ref = cpuReference(FILTER, { x, dy }, filterAttrs(c));
    const composite = tf.getKernel(FILTER, 'cpu');
    expect(composite).not.toBe(originalKernel(FILTER, 'cpu'));
    expectClose(runRaw('cpu', composite!.kernelFunc, { x, dy }, filterAttrs(c)), ref, 'cpu filter grad');
  });

  it('Conv2DBackpropInput: wasm composite == cpu original (and == wasm original)', () => {
    const { dy, filter } = caseData(c, seed);
    const ref = cpuReference(INPUT, { dy, filter }, inputAttrs(c));
    expectClose(runRegistered(INPUT, { dy, filter }, inputAttrs(c)), ref, 'wasm input grad');
    const wasmOriginal = originalKernel(INPUT, 'wasm')!;
    expectClose(
      runRaw('wasm', wasmOriginal.kernelFunc, { dy, filter }, inputAttrs(c)),
      ref,
      'wasm original input grad',
    );
  });

  it('Conv2DBackpropInput: zero-insertion variant (wasm) == cpu original', () => {
    const { dy, filter } = caseData(c, seed);
    const ref = cpuReference(INPUT, { dy, filter }, inputAttrs(c));
    const zeroInsert = compositeKernelFunc(INPUT, 'wasm', 'zero-insert')!;
    expectClose(
      runRaw('wasm', zeroInsert, { dy, filter }, inputAttrs(c)),
      ref,
      'wasm zero-insert input grad',
    );
  });

  it('Conv2DBackpropInput: cpu composite (not registered by default) == cpu original', () => {
    const { dy, filter } = caseData(c, seed);
    const ref = cpuReference(INPUT, { dy, filter }, inputAttrs(c));
    const composite = compositeKernelFunc(INPUT, 'cpu')!;
    expectClose(runRaw('cpu', composite, { dy, filter }, inputAttrs(c)), ref, 'cpu input grad');
  });
});

describe('gradients on wasm use the composites', () => {
  const conv2dGradCases: {
    name: string;
    x: number[];
    filter: number[];
    strides: number;
    pad: 'same' | 'valid' | number;
  }[] = [
    { name: 'encoder k4 s2 same 16->8', x: [3, 16, 16, 3], filter: [4, 4, 3, 8], strides: 2, pad: 'same' },
    { name: 'head k4 s1 valid 4->1', x: [3, 4, 4, 8], filter: [4, 4, 8, 1], strides: 1, pad: 'valid' },
    { name: 'k3 s2 pad 1 odd 7x9', x: [1, 7, 9, 1], filter: [3, 3, 1, 8], strides: 2, pad: 1 },
  ];

  it.each(conv2dGradCases)('tf.grads of sum(conv2d(x,w)*r): $name', (g) => {
    expect(tf.getBackend()).toBe('wasm');
    const c: Case = { name: g.name, x: g.x, filter: g.filter, strides: g.strides, pad: g.pad };
    const { x, dy: r, filter } = caseData(c, 77);
    const [dx, dw] = tf.tidy(() => {
      const f = (xt: tf.Tensor, wt: tf.Tensor): tf.Tensor =>
        tf.sum(
          tf.mul(
            tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, g.strides, g.pad),
            tf.tensor(r.data, r.shape),
          ),
        );
      const grads = tf.grads(f)([tf.tensor(x.data, x.shape), tf.tensor(filter.data, filter.shape)]);
      return grads.map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    });
    // d/dx = Conv2DBackpropInput(dy=r, w), d/dw = Conv2DBackpropFilter(x, dy=r): the cpu originals.
    expectClose(dx, cpuReference(INPUT, { dy: r, filter }, inputAttrs(c)), 'dx');
    expectClose(dw, cpuReference(FILTER, { x, dy: r }, filterAttrs(c)), 'dw');
  });

  const transposeCases: {
    name: string;
    y: number[];
    filter: number[];
    out: number[];
    strides: number;
    pad: 'same' | 'valid';
  }[] = [
    // generator: [N,1,1,8] -> [N,4,4,3] (k4 s1 valid) and [N,4,4,8] -> [N,8,8,3] (k4 s2 same)
    {
      name: 'generator 1->4 k4 s1 valid',
      y: [2, 1, 1, 8],
      filter: [4, 4, 3, 8],
      out: [2, 4, 4, 3],
      strides: 1,
      pad: 'valid',
    },
    {
      name: 'generator 4->8 k4 s2 same',
      y: [2, 4, 4, 8],
      filter: [4, 4, 3, 8],
      out: [2, 8, 8, 3],
      strides: 2,
      pad: 'same',
    },
  ];

  it.each(transposeCases)('tf.conv2dTranspose forward and tf.grads: $name', (g) => {
    expect(tf.getBackend()).toBe('wasm');
    const y: Raw = { shape: g.y, data: randomData(g.y, 5) };
    const filter: Raw = { shape: g.filter, data: randomData(g.filter, 6) };
    const r: Raw = { shape: g.out, data: randomData(g.out, 7) };
    const c: Case = { name: g.name, x: g.out, filter: g.filter, strides: g.strides, pad: g.pad };

    const [fwd, dy, dw] = tf.tidy(() => {
      const yt = tf.tensor4d(y.data, g.y as [number, number, number, number]);
      const wt = tf.tensor4d(filter.data, g.filter as [number, number, number, number]);
      const out = tf.conv2dTranspose(yt, wt, g.out as [number, number, number, number], g.strides, g.pad);
      const f = (a: tf.Tensor, b: tf.Tensor): tf.Tensor =>
        tf.sum(
          tf.mul(
            tf.conv2dTranspose(
              a as tf.Tensor4D,
              b as tf.Tensor4D,
              g.out as [number, number, number, number],
              g.strides,
              g.pad,
            ),
            tf.tensor(r.data, r.shape),
          ),
        );
      const grads = tf.grads(f)([yt, wt]);
      return [out, ...grads].map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    });
    // forward = Conv2DBackpropInput(dy=y); d/dy = Conv2D(r, w) (cpu forward, never replaced);
    // d/dw = Conv2DBackpropFilter(x=r, dy=y).
    expectClose(fwd, cpuReference(INPUT, { dy: y, filter }, inputAttrs(c)), 'conv2dTranspose forward');
    const cpuConv = tf.getKernel('Conv2D', 'cpu')!;
    const conv = runRaw(
      'cpu',
      cpuConv.kernelFunc,
      { x: r, filter },
      { strides: g.strides, pad: g.pad, dataFormat: 'NHWC', dilations: 1 },
    );
    expectClose(dy, conv, 'd/dy');
    expectClose(dw, cpuReference(FILTER, { x: r, dy: y }, filterAttrs(c)), 'd/dw');
  });
});

describe('no leaks', () => {
  it('keeps tf.memory().numTensors and numDataIds() flat on wasm and cpu', () => {
    expect(tf.getBackend()).toBe('wasm');
    const c = caseNamed('k4 s2 same 16->8');
    const odd = caseNamed('k2 s2 same odd'); // negative paddings -> Slice paths
    const head = caseNamed('k4 s1 valid 1->4'); // 1x1 dy -> BatchMatMul path
    const wasm = backendOf('wasm');
    const cpu = backendOf('cpu');
    const xs = tf.tensor(randomData(c.x, 1), c.x);
    const ws = tf.tensor(randomData(c.filter, 2), c.filter);
    const once = (): void => {
      for (const k of [c, odd, head]) {
        const { x, dy, filter } = caseData(k, 3);
        runRegistered(FILTER, { x, dy }, filterAttrs(k));
        runRegistered(INPUT, { dy, filter }, inputAttrs(k));
        runRaw('cpu', tf.getKernel(FILTER, 'cpu')!.kernelFunc, { x, dy }, filterAttrs(k));
        runRaw('cpu', compositeKernelFunc(INPUT, 'cpu')!, { dy, filter }, inputAttrs(k));
        runRaw('wasm', compositeKernelFunc(INPUT, 'wasm')!, { dy, filter }, inputAttrs(k));
        runRaw('wasm', compositeKernelFunc(FILTER, 'wasm')!, { x, dy }, filterAttrs(k));
        runRaw('wasm', compositeKernelFunc(INPUT, 'wasm', 'zero-insert')!, { dy, filter }, inputAttrs(k));
      }
      tf.tidy(() => {
        const loss = (a: tf.Tensor, b: tf.Tensor): tf.Tensor =>
          tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')));
        tf.grads(loss)([xs, ws]).forEach((t) => t.dataSync());
      });
    };
    once(); // warm-up (lazy allocations, kernel setup)
    const tensors = tf.memory().numTensors;
    const wasmIds = wasm.numDataIds();
    const cpuIds = cpu.numDataIds();
    for (let i = 0; i < 3; i++) once();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasm.numDataIds()).toBe(wasmIds);
    expect(cpu.numDataIds()).toBe(cpuIds);
    xs.dispose();
    ws.dispose();
  });
});
