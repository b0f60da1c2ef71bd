// The GAN detectors on the real wasm backend: network shapes, finite losses, inference-mode scoring with
// residual maps, no tensor leaks across training steps and scoring calls.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createDetector,
  defaultConfig,
  FEATURE_METHODS,
  METHODS,
  toBatch,
  type Detector,
  type Method,
} from '../../src/ml';
import { pyramid } from '../../src/ml/models/networks';
import { syntheticSet } from '../helpers/synthetic';
import { useWasm } from '../helpers/tf-setup';

const small = (method: Method, size: number, channels: 1 | 3): Detector =>
  createDetector(
    defaultConfig(method, size, channels, {
      ngf: 8,
      ndf: 8,
      latent: 16,
      ...(method === 'anogan' ? { searchSteps: 5 } : {}),
    }),
  );

beforeAll(async () => {
  await useWasm();
});

describe('DCGAN pyramids', () => {
  it('halves down to 4x4 with doubling channels', () => {
    expect(pyramid(32, 64)).toEqual([64, 128, 256]);
    expect(pyramid(128, 8)).toEqual([8, 16, 32, 64, 128]);
  });
  it('refuses sizes that are not a supported power of two', () => {
    expect(() => defaultConfig('ganomaly', 48, 1)).toThrow(/32, 64, 128, 256/);
  });
});

// The GAN methods (the feature methods have their own tests: test/ml/patchcore.test.ts).
describe.each(METHODS.filter((m) => !FEATURE_METHODS.includes(m)))('%s', (method) => {
  it.each([
    [32, 1],
    [64, 3],
  ] as const)('trains and scores at %ix%i channels without leaking tensors', async (size, channels) => {
    const d = small(method, size, channels);
    const x = toBatch(syntheticSet(4, { size, channels }));
    try {
      // Output shapes of every network.
      for (const [name, net] of Object.entries(d.networks())) {
        const outs = Array.isArray(net.outputs) ? net.outputs : [net.outputs];
        for (const o of outs)
          expect(
            o.shape.every((v) => v === null || v > 0),
            name,
          ).toBe(true);
      }
      const l1 = d.trainStep(x);
      expect(Object.keys(l1).length).toBeGreaterThan(0);
      for (const v of Object.values(l1)) expect(Number.isFinite(v)).toBe(true);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 2; i++) d.trainStep(x);
      expect(tf.memory().numTensors).toBe(before);
      // ganomaly-fusion fits its memory banks after training (they add networks, hence tensors).
      await d.fitGoodImages?.(
        syntheticSet(4, { size, channels, seed: 99 }),
        syntheticSet(3, { size, channels, seed: 7 }),
        { batchSize: 2 },
      );
      const r0 = await d.score(x, { maps: true, reconstructions: true });
      const afterScore = tf.memory().numTensors;
      const r = await d.score(x, { maps: true, reconstructions: true });
      expect(tf.memory().numTensors).toBe(afterScore);
      expect(r.scores.length).toBe(4);
      expect(r.maps!.length).toBe(4);
      expect(r.maps![0].length).toBe(size * size);
      expect(r.reconstructions![0].length).toBe(size * size * channels);
      for (const v of r.reconstructions![0]) expect(v >= 0 && v <= 1).toBe(true);
      // Inference mode: the same batch scores the same twice (no batch statistics, no dropout).
      expect(Array.from(r.scores)).toEqual(Array.from(r0.scores));
    } finally {
      x.dispose();
      d.dispose();
    }
  });
});

it('scores each image independently of its batch mates (BatchNorm uses moving statistics)', async () => {
  const d = small('ganomaly', 32, 1);
  const imgs = syntheticSet(6, { size: 32, channels: 1 });
  const all = toBatch(imgs);
  const one = toBatch(imgs.slice(0, 1));
  try {
    d.trainStep(all);
    const a = await d.score(all);
    const b = await d.score(one);
    expect(b.scores[0]).toBeCloseTo(a.scores[0], 5);
  } finally {
    tf.dispose([all, one]);
    d.dispose();
  }
});

it('EGBAD offers both discriminator scores and alpha mixes them', async () => {
  const imgs = toBatch(syntheticSet(3, { size: 32, channels: 1 }));
  try {
    const base = { ngf: 8, ndf: 8, latent: 16 };
    const fm = createDetector(defaultConfig('egbad', 32, 1, { ...base, dLoss: 'fm', alpha: 1 }));
    const fm0 = createDetector(defaultConfig('egbad', 32, 1, { ...base, dLoss: 'fm', alpha: 0.9 }));
    const ce = createDetector(defaultConfig('egbad', 32, 1, { ...base, dLoss: 'ce', alpha: 0.9 }));
    const [a, b, c] = await Promise.all([fm.score(imgs), fm0.score(imgs), ce.score(imgs)]);
    // alpha 1 is the pure L1 reconstruction norm; the others add different L_D terms.
    const l1 = tf.tidy(
      () =>
        tf
          .abs(
            imgs.sub(
              (fm as unknown as { generator: tf.LayersModel }).generator.apply(
                (fm as unknown as { encoder: tf.LayersModel }).encoder.apply(imgs, {
                  training: false,
                }) as tf.Tensor,
                { training: false },
              ) as tf.Tensor,
            ),
          )
          .sum([1, 2, 3])
          .arraySync() as number[],
    );
    l1.forEach((v, i) => expect(a.scores[i]).toBeCloseTo(v, 2));
    expect(Array.from(b.scores)).not.toEqual(Array.from(c.scores));
    [fm, fm0, ce].forEach((d) => d.dispose());
  } finally {
    imgs.dispose();
  }
});
