// Patch mode: tiles cover every pixel with the last tile flush to the edge, stitched maps are full
// resolution, and the image statistics behave as documented.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createDetector,
  defaultConfig,
  patchImageScore,
  scorePatched,
  TfjsEngine,
  tileStarts,
  trainDetector,
} from '../../src/ml';
import { syntheticPart } from '../helpers/synthetic';
import { useWasm } from '../helpers/tf-setup';

beforeAll(async () => {
  await useWasm();
});

describe('tileStarts', () => {
  it('covers the side with the last tile flush to the edge', () => {
    expect(tileStarts(100, 32, 16)).toEqual([0, 16, 32, 48, 64, 68]);
    expect(tileStarts(32, 32, 16)).toEqual([0]);
    expect(tileStarts(64, 32, 32)).toEqual([0, 32]);
  });
  it('refuses images smaller than a patch', () => {
    expect(() => tileStarts(20, 32, 16)).toThrow(/smaller than the 32px patch/);
  });
});

describe('patchImageScore', () => {
  const map = Float32Array.from({ length: 100 }, (_, i) => i / 100);
  it('computes each statistic', () => {
    expect(patchImageScore('max-patch', Float32Array.of(1, 5, 2), map)).toBe(5);
    expect(patchImageScore('map-max', Float32Array.of(1), map)).toBeCloseTo(0.99, 6);
    expect(patchImageScore('map-p99', Float32Array.of(1), map)).toBeCloseTo(0.9801, 4);
  });
});

describe('scorePatched', () => {
  it('stitches a full-resolution map from overlapping tiles and finds the defect', async () => {
    const train = Array.from(
      { length: 24 },
      (_, i) => syntheticPart({ size: 96, channels: 1, seed: 40 + i }).sample,
    );
    const d = createDetector(defaultConfig('ganomaly', 32, 1, { ngf: 8, ndf: 8, latent: 16, lr: 1e-3 }));
    await trainDetector(d, train, { epochs: 4, batchSize: 16, patchSize: 32, stepsPerEpoch: 8, patience: 0 });
    const bad = syntheticPart({ size: 96, channels: 1, seed: 7, defect: true });
    const r = await scorePatched(
      new TfjsEngine(d),
      { ...bad.sample, width: 96, height: 96 },
      { size: 32, stride: 16 },
    );
    expect(r.map.length).toBe(96 * 96);
    expect(r.patchScores.length).toBe(25); // 5 x 5 tiles
    expect(r.map.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    let inS = 0,
      inN = 0,
      outS = 0,
      outN = 0;
    bad.mask.forEach((v, k) => (v ? ((inS += r.map[k]), inN++) : ((outS += r.map[k]), outN++)));
    expect(inS / inN).toBeGreaterThan(outS / outN);
    // Default statistic: the hottest point of the stitched map.
    expect(r.score).toBe(Math.max(...r.map));
    d.dispose();
  });
});
