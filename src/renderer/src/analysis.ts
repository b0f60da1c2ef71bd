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

export interface Axis {
  min: number;
  max: number;
  /** Distance between ticks: 1, 2, 2.5 or 5 times a power of ten. */
  step: number;
  /** Decimals that print every tick exactly. */
  decimals: number;
}

/**
 * An axis that shows every value with room to spare: the values' span widened by `margin` of it on each
 * side, then out to whole steps of a round size, about `ticks` of them. Ticks are min, min + step, ... max,
 * evenly spaced (a marker at the highest value is drawn inside the plot, not on its edge).
 */
export function niceAxis(values: number[], ticks = 6, margin = 0.08): Axis {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return { min: 0, max: 1, step: 0.2, decimals: 1 };
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  const span = hi - lo || Math.abs(lo) || 1;
  lo -= span * margin;
  hi += span * margin;
  const raw = (hi - lo) / Math.max(1, ticks);
  let exponent = Math.floor(Math.log10(raw));
  let factor = [1, 2, 2.5, 5].find((f) => f * 10 ** exponent >= raw * (1 - 1e-9));
  if (factor === undefined) [factor, exponent] = [1, exponent + 1];
  // Built from the decimal digits, so 0.0025 is exactly 0.0025; 2.5 x 10^k needs one more decimal than 10^k.
  const decimals = Math.max(0, -exponent + (factor === 2.5 ? 1 : 0));
  const step = Number((factor * 10 ** exponent).toFixed(decimals));
  const round = (x: number) => Number(x.toFixed(decimals));
  return {
    min: round(Math.floor(lo / step) * step),
    max: round(Math.ceil(hi / step) * step),
    step,
    decimals,
  };
}
