// ganomaly-fusion: the fused score equals its definition computed independently (kNN by brute force in plain
// JS over the training images, z-scores from the held-out images' own statistics), the memory bank is capped,
// and training fits the banks on held-out good images only.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createDetector,
  defaultConfig,
  GanomalyFusion,
  toBatch,
  trainDetector,
  type GanomalyFusionConfig,
  type ImageSample,
} from '../../src/ml';
import { syntheticSet } from '../helpers/synthetic';
import { useWasm } from '../helpers/tf-setup';

beforeAll(async () => {
  await useWasm();
});

const small = (overrides: Partial<GanomalyFusionConfig> = {}) =>
  createDetector(
    defaultConfig('ganomaly-fusion', 32, 1, { ngf: 8, ndf: 8, latent: 16, ...overrides }),
  ) as GanomalyFusion;

/** Per image: latent gap, reconstruction L1, latent vector, discriminator features (plain arrays). */
function plainForward(d: GanomalyFusion, images: ImageSample[]) {
  const x = toBatch(images);
  const out = tf.tidy(() => {
    const g = d.gan;
    const li = g.encoderG.apply(x, { training: false }) as tf.Tensor4D;
    const xh = g.decoderG.apply(li, { training: false }) as tf.Tensor4D;
    const lo = g.encoderE.apply(xh, { training: false }) as tf.Tensor4D;
    const f = (g.discriminator.apply(x, { training: false }) as tf.Tensor[])[1];
    return [li, xh, lo, f].map((t) => t.reshape([images.length, -1]).arraySync() as number[][]);
  });
  const xs = x.reshape([images.length, -1]).arraySync() as number[][];
  x.dispose();
  const [li, xh, lo, f] = out;
  const meanOf = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  return images.map((_, i) => ({
    gap: meanOf(li[i].map((v, j) => (v - lo[i][j]) ** 2)),
    // In [0, 1] pixel units, as the station's reconstruction error (the network works in [-1, 1]).
    recon: meanOf(xs[i].map((v, j) => Math.abs(v - xh[i][j]))) / 2,
    latent: li[i],
    features: f[i],
  }));
}

function cosine(a: number[], b: number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/** Mean cosine distance to the k nearest bank vectors, by sorting every distance. */
function bruteKnn(bank: number[][], q: number[], k: number): number {
  const d = bank.map((b) => 1 - cosine(q, b)).sort((a, b) => a - b);
  return d.slice(0, k).reduce((s, v) => s + v, 0) / k;
}

describe('ganomaly-fusion', () => {
  it('scores the sum of the four z-scores, each standardised on the held-out good images', async () => {
    const d = small({ k: 3 });
    const train = syntheticSet(8, { size: 32, channels: 1, seed: 2 });
    const heldOut = syntheticSet(6, { size: 32, channels: 1, seed: 3 });
    const probe = [
      ...syntheticSet(2, { size: 32, channels: 1, seed: 4 }),
      ...syntheticSet(2, { size: 32, channels: 1, seed: 5, defect: true }),
    ];
    try {
      const x = toBatch(train);
      for (let i = 0; i < 3; i++) d.trainStep(x);
      x.dispose();
      await d.fitGoodImages(train, heldOut, { batchSize: 4 });

      const bank = plainForward(d, train);
      const comps = (images: ImageSample[]) =>
        plainForward(d, images).map((r) => [
          r.gap,
          r.recon,
          bruteKnn(
            bank.map((b) => b.latent),
            r.latent,
            3,
          ),
          bruteKnn(
            bank.map((b) => b.features),
            r.features,
            3,
          ),
        ]);
      const held = comps(heldOut);
      const mean = [0, 1, 2, 3].map((j) => held.reduce((s, r) => s + r[j], 0) / held.length);
      const std = [0, 1, 2, 3].map((j) =>
        Math.sqrt(held.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / held.length),
      );
      // Statistics from the held-out images (relative: an untrained model's latent gap varies by ~1e-7).
      const rel = (a: number, b: number) => Math.abs(a / b - 1);
      d.config.fusion!.mean.forEach((m, j) => expect(rel(m, mean[j])).toBeLessThan(2e-3));
      d.config.fusion!.std.forEach((s, j) => expect(rel(s, std[j])).toBeLessThan(2e-3));

      const xp = toBatch(probe);
      const got = await d.score(xp, { maps: true });
      const z = await d.scoreComponents(xp);
      xp.dispose();
      // Each component, un-standardised, matches the brute-force one; the score is the sum of the z-scores.
      const { mean: m, std: sd } = d.config.fusion!;
      comps(probe).forEach((r, i) =>
        r.forEach((v, j) => expect(rel(z[i][j] * sd[j] + m[j], v)).toBeLessThan(2e-3)),
      );
      z.forEach((row, i) => expect(got.scores[i]).toBeCloseTo(row[0] + row[1] + row[2] + row[3], 4));

      // The heatmap is GANomaly's residual map, unchanged by the fusion.
      const xq = toBatch(probe);
      const plain = await d.gan.score(xq, { maps: true });
      xq.dispose();
      expect(Array.from(got.maps![3])).toEqual(Array.from(plain.maps![3]));
    } finally {
      d.dispose();
    }
  });

  it('keeps at most bankSize training images, evenly spaced, in each bank', async () => {
    const d = small({ bankSize: 4 });
    try {
      await d.fitGoodImages(
        syntheticSet(10, { size: 32, channels: 1, seed: 6 }),
        syntheticSet(3, { size: 32, channels: 1, seed: 7 }),
        { batchSize: 8 },
      );
      const nets = d.networks();
      expect(nets.bank_latent.outputs[0].shape).toEqual([null, 4]);
      expect(nets.bank_discriminator.outputs[0].shape).toEqual([null, 4]);
      // Unit-normalised columns: every cosine with itself is 1.
      const kernel = nets.bank_latent.getWeights()[0];
      const norms = tf.tidy(() => kernel.norm('euclidean', 0).arraySync() as number[]);
      norms.forEach((n) => expect(n).toBeCloseTo(1, 5));
    } finally {
      d.dispose();
    }
  });

  it('is fitted by training, on the validation images, and refuses patch mode', async () => {
    const d = small();
    const train = syntheticSet(8, { size: 32, channels: 1, seed: 8 });
    const validation = syntheticSet(4, { size: 32, channels: 1, seed: 9 });
    try {
      expect(d.config.fusion).toBeUndefined();
      await trainDetector(d, train, { epochs: 1, batchSize: 4, validation });
      expect(d.config.fusion!.mean).toHaveLength(4);
      expect(Object.keys(d.networks())).toEqual(
        expect.arrayContaining(['bank_latent', 'bank_discriminator', 'encoder_g']),
      );
      // The held-out images' fused scores are centred: the sum of four z-scores has mean 0 there.
      const xv = toBatch(validation);
      const s = await d.score(xv);
      xv.dispose();
      expect(Array.from(s.scores).reduce((a, v) => a + v, 0) / s.scores.length).toBeCloseTo(0, 3);
    } finally {
      d.dispose();
    }
    const p = small();
    try {
      await expect(
        trainDetector(p, train, { epochs: 1, batchSize: 4, patchSize: 32, validation }),
      ).rejects.toThrow(/no patch mode/);
    } finally {
      p.dispose();
    }
  });

  it('refuses to fit without held-out good images', async () => {
    const d = small();
    try {
      await expect(
        d.fitGoodImages(syntheticSet(4, { size: 32, channels: 1 }), [], { batchSize: 4 }),
      ).rejects.toThrow(/held-out good images/);
    } finally {
      d.dispose();
    }
  });
});
