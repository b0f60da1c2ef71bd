// Tests for src/ml/metrics.ts against brute-force reference computations and known sklearn/numpy values.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/ml/data';
import {
  auprc,
  auroc,
  f1AtThreshold,
  f1OptimalThreshold,
  labelRegions,
  perRegionOverlap,
  pixelAuroc,
  quantile,
  quantileThreshold,
  rocCurve,
} from '../../src/ml/metrics';

/** The project's seeded PRNG, so failures reproduce. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Random scores (optionally quantised to force ties) with positives shifted up a bit. */
function randomCase(seed: number, n: number, levels?: number): { scores: number[]; labels: number[] } {
  const r = rng(seed);
  const scores: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = r() < 0.4 ? 1 : 0;
    let s = r() + 0.3 * label;
    if (levels) s = Math.round(s * levels) / levels;
    scores.push(s);
    labels.push(label);
  }
  // Make sure both classes are present.
  labels[0] = 1;
  labels[1] = 0;
  return { scores, labels };
}

/** O(n^2) pair counting: P(positive > negative) + 0.5 P(tie). */
function bruteAuroc(scores: number[], labels: number[]): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      if (scores[i] > scores[j]) sum += 1;
      else if (scores[i] === scores[j]) sum += 0.5;
    }
  }
  return sum / pairs;
}

/** AP by definition: for every distinct threshold t (descending), flag score >= t, sum (R_n - R_{n-1}) P_n. */
function bruteAp(scores: number[], labels: number[]): number {
  const nPos = labels.filter((l) => l === 1).length;
  const distinct = [...new Set(scores)].sort((a, b) => b - a);
  let ap = 0;
  let prevR = 0;
  for (const t of distinct) {
    let tp = 0;
    let fp = 0;
    for (let i = 0; i < scores.length; i++) {
      if (scores[i] >= t) {
        if (labels[i] === 1) tp++;
        else fp++;
      }
    }
    const r = tp / nPos;
    ap += (r - prevR) * (tp / (tp + fp));
    prevR = r;
  }
  return ap;
}

/** Best F1 over every threshold that "score > t" can realise (each distinct score, and -Infinity). */
function bruteBestF1(scores: number[], labels: number[]): number {
  let best = -1;
  for (const t of [...new Set(scores), -Infinity]) {
    const { f1 } = f1AtThreshold(scores, labels, t);
    if (f1 > best) best = f1;
  }
  return best;
}

function trapezoid(x: number[], y: number[]): number {
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return area;
}

describe('known sklearn examples', () => {
  const scores = [0.1, 0.4, 0.35, 0.8];
  const labels = [0, 0, 1, 1];

  it('auroc / auprc', () => {
    expect(auroc(scores, labels)).toBeCloseTo(0.75, 12);
    expect(auprc(scores, labels)).toBeCloseTo(0.8333333333333333, 12);
  });

  it('rocCurve matches roc_curve(drop_intermediate=False)', () => {
    const roc = rocCurve(scores, labels);
    expect(roc.thresholds).toEqual([Infinity, 0.8, 0.4, 0.35, 0.1]);
    expect(roc.fpr).toEqual([0, 0, 0.5, 0.5, 1]);
    expect(roc.tpr).toEqual([0, 0.5, 0.5, 1, 1]);
  });

  it('all scores tied', () => {
    const s = [0.5, 0.5, 0.5, 0.5];
    const l = [0, 1, 0, 1];
    expect(auroc(s, l)).toBe(0.5);
    expect(auprc(s, l)).toBe(0.5);
    const roc = rocCurve(s, l);
    expect(roc.fpr).toEqual([0, 1]);
    expect(roc.tpr).toEqual([0, 1]);
    expect(roc.thresholds).toEqual([Infinity, 0.5]);
  });

  it('accepts boolean labels and typed arrays', () => {
    const s32 = new Float32Array([0.1, 0.4, 0.35, 0.8]);
    expect(auroc(s32, [false, false, true, true])).toBeCloseTo(0.75, 12);
    expect(auroc(scores, new Uint8Array(labels))).toBeCloseTo(0.75, 12);
  });
});

describe('against brute force on random data', () => {
  const cases: Array<[string, number, number | undefined]> = [
    ['continuous', 1, undefined],
    ['continuous', 2, undefined],
    ['heavy ties', 3, 5],
    ['ties', 4, 20],
    ['ties', 5, 50],
  ];

  for (const [kind, seed, levels] of cases) {
    it(`${kind} (seed ${seed})`, () => {
      const { scores, labels } = randomCase(seed, 300, levels);
      const expected = bruteAuroc(scores, labels);
      expect(auroc(scores, labels)).toBeCloseTo(expected, 12);
      expect(auroc(new Float64Array(scores), labels)).toBeCloseTo(expected, 12);
      const f32 = new Float32Array(scores);
      expect(auroc(f32, labels)).toBeCloseTo(bruteAuroc(Array.from(f32), labels), 12);

      expect(auprc(scores, labels)).toBeCloseTo(bruteAp(scores, labels), 12);

      const roc = rocCurve(scores, labels);
      expect(roc.thresholds.length).toBe(new Set(scores).size + 1); // ties form one point
      expect(trapezoid(roc.fpr, roc.tpr)).toBeCloseTo(expected, 12);
      expect(roc.fpr.at(-1)).toBe(1);
      expect(roc.tpr.at(-1)).toBe(1);

      const best = f1OptimalThreshold(scores, labels);
      expect(best.f1).toBeCloseTo(bruteBestF1(scores, labels), 12);
      const again = f1AtThreshold(scores, labels, best.threshold);
      expect(again.f1).toBe(best.f1);
      expect(again.precision).toBe(best.precision);
      expect(again.recall).toBe(best.recall);
      expect(scores).toContain(best.threshold);
    });
  }
});

describe('f1AtThreshold', () => {
  it('flags strictly above the threshold', () => {
    const r = f1AtThreshold([0.1, 0.5, 0.5, 0.9], [0, 0, 1, 1], 0.5);
    expect(r).toEqual({ precision: 1, recall: 0.5, f1: 2 / 3, tp: 1, fp: 0, tn: 2, fn: 1 });
  });

  it('undefined rates are NaN only when their denominator is zero', () => {
    const none = f1AtThreshold([0.1, 0.2], [0, 1], 1);
    expect(none.precision).toBeNaN();
    expect(none.recall).toBe(0);
    expect(none.f1).toBe(0);
    const goodOnly = f1AtThreshold([0.1, 0.2], [0, 0], 1);
    expect(goodOnly.recall).toBeNaN();
    expect(goodOnly.f1).toBeNaN();
  });

  it('threshold between separable classes gives F1 = 1', () => {
    const best = f1OptimalThreshold([0.1, 0.2, 0.3, 0.7, 0.8], [0, 0, 0, 1, 1]);
    expect(best).toEqual({ threshold: 0.3, f1: 1, precision: 1, recall: 1 });
  });

  it('uses -Infinity when flagging everything is optimal', () => {
    const best = f1OptimalThreshold([0.5, 0.1, 0.2, 0.3], [0, 1, 1, 1]);
    expect(best.threshold).toBe(-Infinity);
    expect(best.f1).toBeCloseTo(6 / 7, 12);
  });
});

describe('quantile', () => {
  it('matches numpy linear interpolation', () => {
    expect(quantile([1, 2, 3, 4], 0.25)).toBeCloseTo(1.75, 12);
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBeCloseTo(9.1, 12);
    expect(quantile([5, -1, 7], 0)).toBe(-1);
    expect(quantile([5, -1, 7], 1)).toBe(7);
    expect(quantile([42], 0.3)).toBe(42);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('quantileThreshold is the (1 - rate) quantile', () => {
    const good = Array.from({ length: 1000 }, (_, i) => i);
    expect(quantileThreshold(good, 0.005)).toBeCloseTo(994.005, 9);
    expect(quantileThreshold(good, 0)).toBe(999);
  });

  it('rejects bad q and NaN values', () => {
    expect(() => quantile([1, 2], 1.5)).toThrow(RangeError);
    expect(() => quantile([1, NaN], 0.5)).toThrow(/NaN/);
    expect(() => quantileThreshold([1, 2], -0.1)).toThrow(RangeError);
  });
});

describe('edge cases', () => {
  it('single class or empty input gives NaN', () => {
    expect(auroc([0.1, 0.2], [0, 0])).toBeNaN();
    expect(auroc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(auprc([0.1, 0.2], [0, 0])).toBeNaN();
    expect(auprc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(f1OptimalThreshold([0.1, 0.2], [0, 0]).f1).toBeNaN();
    expect(auroc([], [])).toBeNaN();
    expect(auprc([], [])).toBeNaN();
    expect(rocCurve([], [])).toEqual({ fpr: [], tpr: [], thresholds: [] });
    const roc = rocCurve([0.1, 0.2], [0, 0]);
    expect(roc.fpr).toEqual([0, 0.5, 1]);
    expect(roc.tpr.every(Number.isNaN)).toBe(true);
  });

  it('rejects NaN scores, bad labels and length mismatches', () => {
    expect(() => auroc([0.1, NaN], [0, 1])).toThrow(/scores\[1\] is NaN/);
    expect(() => auprc(new Float32Array([NaN, 1]), [0, 1])).toThrow(/NaN/);
    expect(() => rocCurve([0.1, NaN], [0, 1])).toThrow(/NaN/);
    expect(() => f1AtThreshold([0.1, NaN], [0, 1], 0.5)).toThrow(/NaN/);
    expect(() => f1OptimalThreshold([NaN], [1])).toThrow(/NaN/);
    expect(() => auroc([0.1, 0.2], [0, 2])).toThrow(/labels\[1\]/);
    expect(() => auroc([0.1, 0.2], [0])).toThrow(/length/);
  });

  it('handles infinities and signed zeros as ordinary values', () => {
    expect(auroc([-Infinity, Infinity, -0, 0], [0, 1, 0, 1])).toBe(
      bruteAuroc([-Infinity, Infinity, -0, 0], [0, 1, 0, 1]),
    );
  });
});

describe('pixelAuroc', () => {
  it('equals auroc over the concatenation', () => {
    const r = rng(7);
    const maps: Float32Array[] = [];
    const masks: Uint8Array[] = [];
    const allScores: number[] = [];
    const allLabels: number[] = [];
    for (let m = 0; m < 3; m++) {
      const map = new Float32Array(64);
      const mask = new Uint8Array(64);
      for (let i = 0; i < 64; i++) {
        mask[i] = r() < 0.2 ? 255 : 0;
        map[i] = Math.round((r() + (mask[i] ? 0.4 : 0)) * 10) / 10;
        allScores.push(map[i]);
        allLabels.push(mask[i] > 0 ? 1 : 0);
      }
      maps.push(map);
      masks.push(mask);
    }
    expect(pixelAuroc(maps, masks)).toBeCloseTo(bruteAuroc(allScores, allLabels), 12);
  });

  it('NaN without defect or good pixels; validates sizes', () => {
    expect(pixelAuroc([new Float32Array([0.1, 0.2])], [new Uint8Array([0, 0])])).toBeNaN();
    expect(pixelAuroc([new Float32Array([0.1, 0.2])], [new Uint8Array([1, 1])])).toBeNaN();
    expect(pixelAuroc([], [])).toBeNaN();
    expect(() => pixelAuroc([new Float32Array(3)], [new Uint8Array(2)])).toThrow(/mask/);
    expect(() => pixelAuroc([new Float32Array(3)], [])).toThrow(RangeError);
  });

  it('5 million pixels: constructed case with known AUROC', () => {
    // 5 maps x 1e6 pixels; every 10th pixel is a defect scoring 0.75, good pixels cycle through k/100,
    // k = 0..99 (4.5e6 good pixels, a multiple of 100). AUROC = P(good < 0.75) + 0.5 P(good = 0.75)
    // = 75/100 + 0.5/100 = 0.755 exactly.
    const maps: Float32Array[] = [];
    const masks: Uint8Array[] = [];
    let goodCounter = 0;
    for (let m = 0; m < 5; m++) {
      const map = new Float32Array(1_000_000);
      const mask = new Uint8Array(1_000_000);
      for (let i = 0; i < map.length; i++) {
        if (i % 10 === 0) {
          mask[i] = 1;
          map[i] = 0.75;
        } else {
          map[i] = (goodCounter++ % 100) / 100;
        }
      }
      maps.push(map);
      masks.push(mask);
    }
    expect(pixelAuroc(maps, masks)).toBeCloseTo(0.755, 12);
  });
});

describe('perRegionOverlap (PRO)', () => {
  const w = 10;
  const blank = () => new Uint8Array(100);
  it('labels 8-connected regions', () => {
    const m = blank();
    [0, 11, 22, 55, 56, 99].forEach((i) => (m[i] = 255)); // a diagonal chain, a pair, a corner pixel
    const { labels, count } = labelRegions(m, w);
    expect(count).toBe(3);
    expect(labels[0]).toBe(labels[22]);
    expect(labels[55]).toBe(labels[56]);
    expect(labels[99]).not.toBe(labels[0]);
  });

  it('is 1 when every defect pixel outscores every good pixel, 0 when none does', () => {
    const mask = blank();
    for (let i = 40; i < 60; i++) mask[i] = 255;
    const perfect = Float32Array.from(mask, (v, i) => (v ? 2 + i / 100 : i / 100));
    expect(perRegionOverlap([perfect], [mask], [w])).toBeCloseTo(1, 6);
    const inverted = Float32Array.from(mask, (v) => (v ? -1 : 1));
    expect(perRegionOverlap([inverted], [mask], [w])).toBeCloseTo(0, 6);
  });

  it('weighs a small region as much as a large one', () => {
    // Image A: a large region, found; image B: a one-pixel region, missed. PRO 0.5 whatever the sizes.
    const a = blank();
    for (let i = 0; i < 50; i++) a[i] = 255;
    const b = blank();
    b[77] = 255;
    const mapA = Float32Array.from(a, (v, i) => (v ? 5 : i / 100));
    const mapB = Float32Array.from(b, (_, i) => i / 100 - 10);
    expect(perRegionOverlap([mapA, mapB], [a, b], [w, w])).toBeCloseTo(0.5, 6);
  });

  it('integrates the overlap over the false-positive rate up to maxFpr', () => {
    // One region whose pixels sit at the good pixels' 80th percentile: found once FPR >= 0.2, so the curve
    // is 0 on [0, 0.2) and 1 on [0.2, 0.3]: area ~ 0.1 / 0.3 (one threshold step of slack).
    const mask = blank();
    for (let i = 0; i < 5; i++) mask[i] = 255;
    const map = new Float32Array(100);
    let k = 0;
    for (let i = 0; i < 100; i++) map[i] = mask[i] ? 0.795 : k++ / 95;
    const v = perRegionOverlap([map], [mask], [w], 0.3, 300);
    expect(v).toBeGreaterThan(0.3);
    expect(v).toBeLessThan(0.37);
  });
});
