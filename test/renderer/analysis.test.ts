// The UI's score statistics: ROC from the engine's metrics with the right orientation, the station's rule
// (flag when the score is strictly above the threshold), histograms.
import { describe, expect, it } from 'vitest';
import { histogram, roc, shareAbove } from '../../src/renderer/src/analysis';

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

describe('renderer score statistics', () => {
  const rand = seeded(7);
  // Rounded so ties occur, which is where AUROC implementations differ.
  const good = Array.from({ length: 300 }, () => Math.round(rand() * 50) / 50);
  const defect = Array.from({ length: 120 }, () => Math.round((rand() * 0.8 + 0.3) * 50) / 50);

  it('ROC area is the pairwise win rate, ties counted half, and the curve runs from (0,0) to (1,1)', () => {
    const ours = roc(good, defect);
    // Brute force over all pairs: P(defect > good) + P(tie) / 2.
    let wins = 0;
    for (const g of good) for (const d of defect) wins += d > g ? 1 : d === g ? 0.5 : 0;
    expect(ours.auc).toBeCloseTo(wins / (good.length * defect.length), 12);
    expect(ours.points[0]).toEqual({ fpr: 0, tpr: 0 });
    expect(ours.points.at(-1)).toEqual({ fpr: 1, tpr: 1 });
    // Monotone: a ROC curve never goes back.
    for (let i = 1; i < ours.points.length; i++) {
      expect(ours.points[i].fpr).toBeGreaterThanOrEqual(ours.points[i - 1].fpr);
      expect(ours.points[i].tpr).toBeGreaterThanOrEqual(ours.points[i - 1].tpr);
    }
  });

  it('ROC of a perfect separation is 1, of a reversed one 0, and undefined without both classes', () => {
    expect(roc([0.1, 0.2], [0.8, 0.9]).auc).toBe(1);
    expect(roc([0.8, 0.9], [0.1, 0.2]).auc).toBe(0);
    expect(roc([0.1], []).auc).toBeNaN();
  });

  it('rates count scores strictly above the threshold, as the station flags', () => {
    expect(shareAbove([0.1, 0.5, 0.5, 0.9], 0.5)).toBe(0.25);
    expect(shareAbove([], 0.5)).toBeNaN();
  });

  it('histograms keep every score, in the right bin', () => {
    const h = histogram(good, defect, 10);
    expect(h.good.reduce((a, b) => a + b, 0)).toBe(good.length);
    expect(h.defect.reduce((a, b) => a + b, 0)).toBe(defect.length);
    expect(h.edges).toHaveLength(11);
    const max = Math.max(...good, ...defect);
    expect(h.edges.at(-1)).toBeCloseTo(max, 12);
    const inFirst = [...good, ...defect].filter((x) => x < h.edges[1]).length;
    expect(h.good[0] + h.defect[0]).toBe(inFirst);
    expect(histogram([], [])).toEqual({ edges: [], good: [], defect: [] });
  });
});
