// The training loop on real tfjs (wasm): it learns (held-out loss falls, defects score higher than good
// parts, the heatmap is hottest on the defect), it can be cancelled, resumed from a checkpoint with the
// same result as an uninterrupted run, and it stops early on held-out good images.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  auroc,
  createDetector,
  defaultConfig,
  toBatch,
  trainDetector,
  type Checkpoint,
  type DetectorConfig,
  type TrainProgress,
} from '../../src/ml';
import { syntheticPart, syntheticSet } from '../helpers/synthetic';
import { useWasm } from '../helpers/tf-setup';

const cfg = (over: Partial<DetectorConfig> = {}) =>
  defaultConfig('ganomaly', 32, 1, { ngf: 16, ndf: 16, latent: 32, lr: 1e-3, ...over });

beforeAll(async () => {
  await useWasm();
});

describe('GANomaly on synthetic parts', () => {
  it('learns: held-out loss falls, defects outscore good parts, heatmap sits on the defect', async () => {
    const train = syntheticSet(96, { size: 32, channels: 1, seed: 1 });
    const val = syntheticSet(16, { size: 32, channels: 1, seed: 2 });
    const d = createDetector(cfg());
    const events: TrainProgress[] = [];
    const r = await trainDetector(d, train, {
      epochs: 6,
      batchSize: 16,
      validation: val,
      onProgress: (p) => events.push(p),
      patience: 0,
    });
    expect(r.history.length).toBe(6);
    expect(r.history[5].validationLoss).toBeLessThan(r.history[0].validationLoss);
    // Progress: step events carry images/s and ETA; epoch events carry sample reconstructions.
    const steps = events.filter((e) => e.kind === 'step');
    expect(steps.length).toBe(6 * 6);
    expect(steps.every((e) => e.imagesPerSecond > 0 && Number.isFinite(e.etaSeconds))).toBe(true);
    const epochs = events.filter((e) => e.kind === 'epoch');
    expect(epochs[0].samples!.length).toBe(4);
    expect(epochs[0].samples![0].reconstruction.length).toBe(32 * 32);

    const good = Array.from({ length: 12 }, (_, i) =>
      syntheticPart({ size: 32, channels: 1, seed: 500 + i }),
    );
    const bad = Array.from({ length: 12 }, (_, i) =>
      syntheticPart({ size: 32, channels: 1, seed: 900 + i, defect: true }),
    );
    const x = toBatch([...good, ...bad].map((p) => p.sample));
    const s = await d.score(x, { maps: true });
    x.dispose();
    // The residual heatmap sits on the defect: inside the mask it is hotter than outside, image by image.
    let hotter = 0;
    bad.forEach((p, i) => {
      const m = s.maps![12 + i];
      let inS = 0,
        inN = 0,
        outS = 0,
        outN = 0;
      p.mask.forEach((v, k) => (v ? ((inS += m[k]), inN++) : ((outS += m[k]), outN++)));
      if (inS / inN > outS / outN) hotter++;
    });
    expect(hotter).toBeGreaterThanOrEqual(10);
    // Reconstruction error separates the defects (the latent score needs far longer training than a test).
    const labels = [...good.map(() => 0), ...bad.map(() => 1)];
    expect(auroc(s.reconstructionErrors, labels)).toBeGreaterThan(0.8);
    d.dispose();
  });
});

describe('training control', () => {
  const train = syntheticSet(32, { size: 32, channels: 1, seed: 3 });
  const val = syntheticSet(8, { size: 32, channels: 1, seed: 4 });

  it('resumes from a checkpoint to the same weights as an uninterrupted run', async () => {
    const straight = createDetector(cfg());
    await trainDetector(straight, train, { epochs: 2, batchSize: 16, validation: val, patience: 0 });
    const checkpoints: Checkpoint[] = [];
    const first = createDetector(cfg());
    await trainDetector(first, train, {
      epochs: 1,
      batchSize: 16,
      validation: val,
      patience: 0,
      onCheckpoint: (c) => void checkpoints.push(c),
    });
    const checkpointWeights = first
      .networks()
      .decoder_g.getWeights()
      .map((w) => w.clone());
    first.dispose();
    expect(checkpoints.length).toBe(1);
    const resumed = createDetector(cfg());
    const r = await trainDetector(resumed, train, {
      epochs: 2,
      batchSize: 16,
      validation: val,
      patience: 0,
      resume: checkpoints[0],
    });
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2]);
    // Same weights up to float32 rounding: tfjs's Adam.setWeights recomputes its bias-correction powers
    // (beta^t) from the step count instead of the running products the uninterrupted run holds, so the
    // runs differ in the last bits. One more epoch of training moves the weights orders of magnitude more.
    const maxDiff = (x: tf.Tensor[], y: tf.Tensor[]) =>
      Math.max(...x.map((w, i) => tf.tidy(() => tf.abs(w.sub(y[i])).max().dataSync()[0])));
    const a = straight.networks().decoder_g.getWeights();
    const b = resumed.networks().decoder_g.getWeights();
    const c = checkpointWeights;
    expect(maxDiff(a, b)).toBeLessThan(1e-4);
    expect(maxDiff(a, c)).toBeGreaterThan(100 * Math.max(maxDiff(a, b), 1e-6));
    tf.dispose(c);
    straight.dispose();
    resumed.dispose();
  });

  it('stops when the AbortSignal fires, between steps', async () => {
    const d = createDetector(cfg());
    const ac = new AbortController();
    let steps = 0;
    const r = await trainDetector(d, train, {
      epochs: 5,
      batchSize: 8,
      validation: val,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.kind === 'step' && ++steps === 2) ac.abort();
      },
    });
    expect(r.cancelled).toBe(true);
    expect(steps).toBe(2);
    expect(r.history.length).toBe(0);
    d.dispose();
  });

  it('stops early when held-out good loss stops improving, and keeps the best epoch', async () => {
    // lr 0 and a min-delta no epoch can beat: epoch 1 stays best and patience 2 ends the run after epoch 3.
    const d = createDetector(cfg({ lr: 0 }));
    const r = await trainDetector(d, train, {
      epochs: 10,
      batchSize: 16,
      validation: val,
      patience: 2,
      minDelta: 10,
    });
    expect(r.stoppedEarly).toBe(true);
    expect(r.epochsRun).toBe(3);
    expect(r.bestEpoch).toBe(1);
    d.dispose();
  });

  it('keeps tensor count flat across a whole training run with checkpoints', async () => {
    const d = createDetector(cfg());
    await trainDetector(d, train, { epochs: 1, batchSize: 16, validation: val, patience: 0 });
    const before = tf.memory().numTensors;
    await trainDetector(d, train, {
      epochs: 2,
      batchSize: 16,
      validation: val,
      patience: 0,
      onCheckpoint: () => {},
    });
    expect(tf.memory().numTensors).toBe(before);
    d.dispose();
  });
});
