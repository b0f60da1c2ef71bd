// GANomaly on backbone features, for real (the bundled MobileNetV2, tfjs wasm, ONNX Runtime): it trains on
// good parts' feature cells with the paper's losses, keeps the best held-out epoch, puts the hottest point of
// its feature-space residual map on a scratch at native resolution, round-trips through the model format,
// and its ONNX export scores like tfjs.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  detectorArtifacts,
  GanomalyFeatures,
  loadDetector,
  TfjsEngine,
  toBatch,
  toImageBatch,
  type GanomalyFeaturesConfig,
  type ImageSample,
} from '../../src/ml';
import { MOBILENET_V2 } from '../../src/ml/backbone';
import { checkParity, exportOnnx, OnnxEngine } from '../../src/ml/onnx';
import { loadBundledBackbone } from '../../src/main/io/backbones';
import { texturedPart } from '../helpers/synthetic';
import { useWasm } from '../helpers/tf-setup';

const W = 200;
const H = 150;
const good = (n: number, seed: number): ImageSample[] =>
  Array.from(
    { length: n },
    (_, i) => texturedPart({ width: W, height: H, channels: 1, seed: seed + i }).sample,
  );

let d: GanomalyFeatures;
const phases: string[] = [];

beforeAll(async () => {
  await useWasm();
  const config = defaultConfig('ganomaly-features', 0, 1, {
    scale: 1,
    epochs: 6,
    perImage: 128,
    batch: 128,
  }) as GanomalyFeaturesConfig;
  d = new GanomalyFeatures(config, { backbone: await loadBundledBackbone(MOBILENET_V2) });
  await d.fitGoodImages(good(10, 100), good(3, 300), {
    batchSize: 1,
    onProgress: (p) => {
      if (!phases.includes(p.phase)) phases.push(p.phase);
    },
  });
}, 180_000);

afterAll(() => d?.dispose());

describe('GANomaly on features', () => {
  it('trains epochs on feature cells, with held-out cells for model selection', () => {
    expect(phases).toEqual([
      'extracting features',
      'extracting held-out features',
      ...[1, 2, 3, 4, 5, 6].map((e) => `training epoch ${e}/6`),
    ]);
    const c = d.config;
    expect(c.featureMean).toHaveLength(MOBILENET_V2.channels[0] + MOBILENET_V2.channels[1]);
    expect(c.featureStd!.every((s) => s > 0)).toBe(true);
    expect(Object.keys(d.networks()).sort()).toEqual(
      ['backbone', 'decoder_g', 'discriminator', 'encoder_e', 'encoder_g'].sort(),
    );
  });

  it('puts the hottest point of its residual map on a scratch, and scores it above good parts', async () => {
    const { sample, mask } = texturedPart({ width: W, height: H, channels: 1, seed: 501, defect: 'scratch' });
    const r = await d.score(toBatch([sample]), { maps: true });
    const map = r.maps![0];
    expect(map.length).toBe(W * H);
    let at = 0;
    for (let i = 1; i < map.length; i++) if (map[i] > map[at]) at = i;
    let near = Infinity;
    for (let i = 0; i < mask.length; i++)
      if (mask[i])
        near = Math.min(near, Math.hypot((i % W) - (at % W), Math.floor(i / W) - Math.floor(at / W)));
    expect(near).toBeLessThanOrEqual(6);
    const goods = await Promise.all(good(4, 900).map(async (g) => (await d.score(toBatch([g]))).scores[0]));
    expect(r.scores[0]).toBeGreaterThan(Math.max(...goods));
    expect(r.reconstructions).toBeUndefined();
  }, 60_000);

  it('round-trips through the model format, leaks no tensors, and scores like tfjs on ONNX Runtime', async () => {
    const img = texturedPart({ width: W, height: H, channels: 1, seed: 12, defect: 'spot' }).sample;
    const loaded = await loadDetector(d.config, await detectorArtifacts(d));
    const onnx = await OnnxEngine.create(exportOnnx(d), { threads: 1 });
    try {
      const x = toBatch([img]);
      const a = await d.score(x, { maps: true });
      const before = tf.memory().numTensors;
      const b = await loaded.score(x, { maps: true });
      expect(b.scores[0]).toBe(a.scores[0]);
      await loaded.score(x);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      for (const [w, h] of [
        [W, H],
        [106, 75],
      ]) {
        const one = texturedPart({ width: w, height: h, channels: 1, seed: w, defect: 'spot' }).sample;
        const p = await checkParity(onnx, new TfjsEngine(d), toImageBatch([one]));
        expect(p.ok, JSON.stringify(p)).toBe(true);
      }
    } finally {
      loaded.dispose();
      await onnx.dispose();
    }
  }, 60_000);
});
