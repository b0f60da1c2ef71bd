// PatchCore on the bundled MobileNetV2 backbone, for real: the backbone loads from its npm package with the
// network switched off, runs fully convolutionally at any size, the nearest-neighbour search equals a
// brute-force reference, a synthetic scratch or pit at native resolution is where the map peaks, the model
// round-trips through the model format, and the ONNX export scores like tfjs (PARITY_TOLERANCE).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  detectorArtifacts,
  loadDetector,
  Patchcore,
  TfjsEngine,
  toBatch,
  toImageBatch,
  type ImageSample,
  type PatchcoreConfig,
} from '../../src/ml';
import { MOBILENET_V2 } from '../../src/ml/backbone';
import { checkParity, exportOnnx, OnnxEngine, PARITY_TOLERANCE } from '../../src/ml/onnx';
import { bundledBackboneArtifacts, loadBundledBackbone } from '../../src/main/io/backbones';
import { texturedPart } from '../helpers/synthetic';
import { useWasm } from '../helpers/tf-setup';

const W = 200;
const H = 150;
const good = (n: number, seed: number): ImageSample[] =>
  Array.from(
    { length: n },
    (_, i) => texturedPart({ width: W, height: H, channels: 1, seed: seed + i }).sample,
  );

let backbone: tf.LayersModel;
let detector: Patchcore;

beforeAll(async () => {
  await useWasm();
  // No network: the weights must come from the installed package's files.
  const realFetch = globalThis.fetch;
  globalThis.fetch = (() => Promise.reject(new Error('network access during backbone load'))) as typeof fetch;
  try {
    backbone = await loadBundledBackbone(MOBILENET_V2);
    detector = new Patchcore(config({ bankSize: 600 }), {
      backbone: await loadBundledBackbone(MOBILENET_V2),
    });
  } finally {
    globalThis.fetch = realFetch;
  }
  await detector.fitGoodImages(good(8, 100), [], { batchSize: 1 });
}, 120_000);

afterAll(() => {
  backbone?.dispose();
  detector?.dispose();
});

function config(overrides: Partial<PatchcoreConfig> = {}): PatchcoreConfig {
  return defaultConfig('patchcore', 0, 1, overrides) as PatchcoreConfig;
}

describe('the bundled backbone', () => {
  it('is read from the nsfwjs package and cut after its taps, with any input size', () => {
    const a = bundledBackboneArtifacts('mobilenet_v2');
    expect((a.weightData as ArrayBuffer).byteLength).toBeGreaterThan(1_000_000);
    expect(backbone.outputNames.length).toBe(2);
    // Fully convolutional: a non-square image of a size no stride divides gives stride-8 and stride-16 maps
    // (Keras pads stride-2 convolutions by one row and column at the end, so sizes round down).
    const out = tf.tidy(() =>
      (backbone.predict(tf.zeros([1, 75, 106, 3])) as tf.Tensor[]).map((t) => t.shape),
    );
    expect(out).toEqual([
      [1, 9, 13, MOBILENET_V2.channels[0]],
      [1, 4, 6, MOBILENET_V2.channels[1]],
    ]);
    // Nothing after the deepest tap is kept (the classifier head and blocks 14-16 are cut).
    expect(backbone.layers.some((l) => /block_14|Logits|Conv_1/.test(l.name))).toBe(false);
  });

  it('gives the same taps as the full network at its own input size', async () => {
    const full = await tf.loadLayersModel(tf.io.fromMemory(bundledBackboneArtifacts('mobilenet_v2')));
    try {
      const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 3);
      const tapped = tf.model({
        inputs: full.inputs,
        outputs: MOBILENET_V2.layers.map((l) => full.getLayer(l).output as tf.SymbolicTensor),
      });
      const [a, b] = tapped.predict(x) as tf.Tensor[];
      const [c, d] = backbone.predict(x) as tf.Tensor[];
      expect(tf.max(tf.abs(a.sub(c))).dataSync()[0]).toBeLessThan(1e-4);
      expect(tf.max(tf.abs(b.sub(d))).dataSync()[0]).toBeLessThan(1e-4);
      tf.dispose([x, a, b, c, d]);
    } finally {
      full.dispose();
    }
  });
});

describe('PatchCore', () => {
  it('finds the nearest bank row exactly as a brute-force search does', async () => {
    const img = texturedPart({ width: W, height: H, channels: 1, seed: 7, defect: 'spot' }).sample;
    const x = toBatch([img]);
    const { features } = await detector.features(x);
    // The default pools adjacent channels in pairs: 768 backbone channels give 384-dimensional rows.
    expect(features.shape[1]).toBe((MOBILENET_V2.channels[0] + MOBILENET_V2.channels[1]) / 2);
    const { distance, row } = tf.tidy(() => detector.nearestRows(features));
    const q = features.arraySync() as number[][];
    const bank = detector.bankRows();
    const b = bank.arraySync() as number[][];
    const dist = distance.dataSync();
    const rows = row.dataSync();
    for (let i = 0; i < q.length; i += 7) {
      let best = Infinity;
      for (const r of b) {
        let s = 0;
        for (let k = 0; k < r.length; k++) s += (q[i][k] - r[k]) ** 2;
        best = Math.min(best, s);
      }
      expect(dist[i]).toBeCloseTo(Math.sqrt(best), 2);
      // The row it names is at that distance (ties aside).
      const named = b[rows[i]].reduce((s, v, k) => s + (q[i][k] - v) ** 2, 0);
      expect(Math.sqrt(named)).toBeCloseTo(Math.sqrt(best), 2);
    }
    tf.dispose([x, features, distance, row, bank]);
  });

  it('keeps a bank of at most bankSize rows, each traced to the training image it came from', () => {
    const c = detector.config;
    expect(c.bankSources!.length).toBe(600);
    expect(c.trainImages).toBe(8);
    expect(new Set(c.bankSources).size).toBe(8);
    expect(Math.max(...c.bankSources!)).toBeLessThan(8);
  });

  it.each(['scratch', 'spot'] as const)(
    'puts the hottest point of the native-resolution map on a %s, and scores it above good parts',
    async (defect) => {
      const { sample, mask } = texturedPart({ width: W, height: H, channels: 1, seed: 500, defect });
      const goods = good(4, 900);
      const r = await detector.score(toBatch([sample]), { maps: true });
      const map = r.maps![0];
      expect(map.length).toBe(W * H); // the map comes back at the image's own resolution
      let at = 0;
      for (let i = 1; i < map.length; i++) if (map[i] > map[at]) at = i;
      // Within 4 px of a defect pixel (the map is smoothed with sigma 4).
      const [ax, ay] = [at % W, Math.floor(at / W)];
      let near = Infinity;
      for (let i = 0; i < mask.length; i++)
        if (mask[i]) near = Math.min(near, Math.hypot((i % W) - ax, Math.floor(i / W) - ay));
      expect(near).toBeLessThanOrEqual(4);
      const gs = await Promise.all(goods.map(async (g) => (await detector.score(toBatch([g]))).scores[0]));
      expect(r.scores[0]).toBeGreaterThan(Math.max(...gs));
      expect(r.nearest![0]).toBeGreaterThanOrEqual(0);
      expect(r.nearest![0]).toBeLessThan(8);
    },
    60_000,
  );

  it('round-trips through the model format: same scores, same maps', async () => {
    const img = texturedPart({ width: W, height: H, channels: 1, seed: 11, defect: 'scratch' }).sample;
    const loaded = await loadDetector(detector.config, await detectorArtifacts(detector));
    try {
      const a = await detector.score(toBatch([img]), { maps: true });
      const b = await loaded.score(toBatch([img]), { maps: true });
      expect(b.scores[0]).toBe(a.scores[0]);
      expect(Array.from(b.maps![0])).toEqual(Array.from(a.maps![0]));
      expect(b.nearest).toEqual(a.nearest);
    } finally {
      loaded.dispose();
    }
  });

  it('loads back on the cpu reference backend and scores like wasm (1e-4)', async () => {
    const img = texturedPart({ width: W, height: H, channels: 1, seed: 12, defect: 'spot' }).sample;
    const ref = await detector.score(toBatch([img]), { maps: true });
    const artifacts = await detectorArtifacts(detector);
    await tf.setBackend('cpu');
    try {
      const onCpu = await loadDetector(detector.config, artifacts);
      const x = toBatch([img]);
      const cpu = await onCpu.score(x, { maps: true });
      x.dispose();
      onCpu.dispose();
      expect(Math.abs(cpu.scores[0] - ref.scores[0]) / ref.scores[0]).toBeLessThan(1e-4);
      let worst = 0;
      for (let i = 0; i < ref.maps![0].length; i++)
        worst = Math.max(worst, Math.abs(cpu.maps![0][i] - ref.maps![0][i]));
      expect(worst / ref.scores[0]).toBeLessThan(1e-4);
      expect(cpu.nearest).toEqual(ref.nearest);
    } finally {
      await tf.setBackend('wasm');
    }
  }, 60_000);

  it('does not leak tensors while scoring', async () => {
    const x = toBatch([texturedPart({ width: W, height: H, channels: 1, seed: 13 }).sample]);
    await detector.score(x, { maps: true });
    const before = tf.memory().numTensors;
    await detector.score(x, { maps: true });
    await detector.score(x);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('grows its bank with a drifted lot of good parts so they pass, and still finds defects', async () => {
    const child = (await loadDetector(detector.config, await detectorArtifacts(detector))) as Patchcore;
    try {
      const drifted = (n: number, seed: number) =>
        Array.from(
          { length: n },
          (_, i) => texturedPart({ width: W, height: H, channels: 1, seed: seed + i, pitch: 6 }).sample,
        );
      const score = async (d: Patchcore, img: ImageSample) => (await d.score(toBatch([img]))).scores[0];
      const goods = await Promise.all(good(4, 700).map((g) => score(child, g)));
      const threshold = Math.max(...goods);
      const lot = drifted(4, 800);
      const before = await Promise.all(lot.map((g) => score(child, g)));
      expect(Math.min(...before)).toBeGreaterThan(threshold); // the drifted lot is flagged
      const rows = child.config.bankSources!.length;
      const added = await child.extendBank(drifted(8, 1800), 600, { batchSize: 1 });
      expect(added).toBeGreaterThan(0);
      expect(added).toBeLessThanOrEqual(600);
      expect(child.config.bankSources!.length).toBe(rows + added);
      expect(child.config.trainImages).toBe(8 + 8);
      expect(child.config.bankSources!.slice(rows).every((s) => s >= 8 && s < 16)).toBe(true);
      const after = await Promise.all(lot.map((g) => score(child, g)));
      // ...and, after the update, scores like good parts again: half of it below the good parts' highest
      // score (8 reference parts cannot cover every stripe phase), all of it far below where it was.
      expect(after.filter((a) => a < threshold).length).toBeGreaterThanOrEqual(2);
      after.forEach((a, i) => expect(a).toBeLessThan(before[i] * 0.7));
      const defect = texturedPart({
        width: W,
        height: H,
        channels: 1,
        seed: 888,
        defect: 'spot',
        pitch: 6,
      }).sample;
      expect(await score(child, defect)).toBeGreaterThan(threshold);
    } finally {
      child.dispose();
    }
  }, 120_000);

  it('refuses gradient training and cannot score before it is fitted', async () => {
    const fresh = new Patchcore(config(), { backbone: await loadBundledBackbone(MOBILENET_V2) });
    try {
      expect(() => fresh.trainStep()).toThrow(/fitted once/);
      await expect(fresh.score(tf.zeros([1, 64, 64, 1]))).rejects.toThrow(/no memory bank/);
    } finally {
      fresh.dispose();
    }
    expect(() => new Patchcore(config())).toThrow(/needs its backbone/);
  });
});

describe('PatchCore on ONNX Runtime', () => {
  it('scores like tfjs at several image sizes, and names the same reference image', async () => {
    const onnx = await OnnxEngine.create(exportOnnx(detector), { threads: 1 });
    try {
      for (const [w, h, seed] of [
        [W, H, 21],
        [106, 75, 22],
        [96, 128, 23],
      ]) {
        const img = texturedPart({ width: w, height: h, channels: 1, seed, defect: 'spot' }).sample;
        const batch = toImageBatch([img]);
        const p = await checkParity(onnx, new TfjsEngine(detector), batch);
        expect(p.ok, JSON.stringify(p)).toBe(true);
        expect(Math.max(p.score, p.map, p.error)).toBeLessThanOrEqual(PARITY_TOLERANCE);
        const [a, b] = [await onnx.score(batch), await detector.score(toBatch([img]))];
        expect(a.nearest).toEqual(b.nearest);
      }
    } finally {
      await onnx.dispose();
    }
  }, 60_000);

  it('fails the parity check when the exported bank differs from the model', async () => {
    const other = new Patchcore(config({ bankSize: 50 }), {
      backbone: await loadBundledBackbone(MOBILENET_V2),
    });
    try {
      await other.fitGoodImages(good(3, 300), [], { batchSize: 1 });
      const onnx = await OnnxEngine.create(exportOnnx(other), { threads: 1 });
      const img = texturedPart({ width: W, height: H, channels: 1, seed: 31, defect: 'spot' }).sample;
      const p = await checkParity(onnx, new TfjsEngine(detector), toImageBatch([img]));
      expect(p.ok).toBe(false);
      await onnx.dispose();
    } finally {
      other.dispose();
    }
  }, 60_000);
});
