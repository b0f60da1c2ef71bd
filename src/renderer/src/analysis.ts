// Small score statistics the UI computes from score lists: histograms, the expected false-alarm rate and
// recall at a threshold (a part is flagged when its score is strictly above it, as the station judges),
// and ROC curves (from the ML engine's own metrics, which are pure TS and bundle into the renderer).
import { auroc, rocCurve } from '../../ml/metrics';

export interface Histogram {
  edges: number[];
  good: number[];
  defect: number[];
}

export function histogram(good: number[], defect: number[], bins = 30): Histogram {
  const all = [...good, ...defect];
  if (!all.length) return { edges: [], good: [], defect: [] };
  const lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) hi = lo + 1;
  const width = (hi - lo) / bins;
  const count = (xs: number[]) => {
    const c = new Array<number>(bins).fill(0);
    for (const x of xs) c[Math.min(bins - 1, Math.floor((x - lo) / width))] += 1;
    return c;
  };
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width);
  return { edges, good: count(good), defect: count(defect) };
}

/** Share of scores strictly above the threshold (NaN for an empty list). */
export function shareAbove(scores: number[], threshold: number): number {
  if (!scores.length) return NaN;
  return scores.filter((s) => s > threshold).length / scores.length;
}

export interface RocPoint {
  fpr: number;
  tpr: number;
}

/** ROC curve of defect (positive) against good (negative) scores and its area: the engine's own metrics. */
export function roc(negative: number[], positive: number[]): { points: RocPoint[]; auc: number } {
  if (!negative.length || !positive.length) return { points: [], auc: NaN };
  const scores = [...negative, ...positive];
  const labels = [...negative.map(() => 0), ...positive.map(() => 1)];
  const curve = rocCurve(scores, labels);
  return { points: curve.fpr.map((fpr, i) => ({ fpr, tpr: curve.tpr[i] })), auc: auroc(scores, labels) };
}

/** 12.3 % style, or an em dash for NaN. */
export function percent(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)} %` : '—';
}
