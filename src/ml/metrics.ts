// Evaluation metrics for anomaly scores (ROC/AUROC, average precision, F1, quantiles, pixel AUROC); pure TS, browser/worker safe.
//
// Conventions used throughout this module:
//   * label 1 / true = anomaly (positive), label 0 / false = good (negative); any other label value is rejected.
//   * a higher score means "more anomalous".
//   * NaN scores are rejected with a RangeError (a NaN would silently corrupt any sort-based metric).
//   * empty input, or input containing only one class, yields NaN for the rank metrics (AUROC, AP, optimal F1):
//     they are undefined there, and NaN is harder to mistake for a real result than 0 or 1.
//
// Implementation note: everything sort-based splits the scores into two typed arrays (positives / negatives)
// and sorts each with the native comparator-free TypedArray#sort, then merge-walks them. This is O(n log n),
// allocates no per-element objects and no comparator closures, and handles tens of millions of pixels.
// Float32Array input is kept in Float32Array buffers (values are exactly representable, half the memory).

/** A point-by-point ROC curve (not thinned: every distinct score is a point). */
export interface RocCurve {
  fpr: number[];
  tpr: number[];
  /**
   * thresholds[i] is the score cut for point i with rule "anomaly when score >= thresholds[i]"
   * (the ROC convention, as in sklearn). thresholds[0] is +Infinity (nothing flagged, point (0,0));
   * the rest are the distinct scores in decreasing order.
   */
  thresholds: number[];
}

/** Confusion counts and derived rates at one threshold. */
export interface ThresholdStats {
  precision: number;
  recall: number;
  f1: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Result of the F1-optimal threshold search. */
export interface F1Optimum {
  threshold: number;
  f1: number;
  precision: number;
  recall: number;
}

type ScoreBuffer = Float32Array | Float64Array;

interface SplitScores {
  pos: ScoreBuffer;
  neg: ScoreBuffer;
}

function isPositiveLabel(label: number | boolean, index: number): boolean {
  if (label === true || label === 1) return true;
  if (label === false || label === 0) return false;
  throw new RangeError(
    `labels[${index}] = ${String(label)}: labels must be 0/1 or false/true (1/true = anomaly)`,
  );
}

function checkLengths(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): void {
  if (scores.length !== labels.length) {
    throw new RangeError(`scores and labels differ in length (${scores.length} vs ${labels.length})`);
  }
}

function nanScoreError(index: number): RangeError {
  return new RangeError(`scores[${index}] is NaN: scores must be numbers (NaN cannot be ranked)`);
}

/** Splits scores by label into two ascending-sorted typed arrays. Validates labels and NaN scores. */
function splitSorted(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): SplitScores {
  checkLengths(scores, labels);
  const n = scores.length;
  let nPos = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) throw nanScoreError(i);
    if (isPositiveLabel(labels[i], i)) nPos++;
  }
  const useF32 = scores instanceof Float32Array;
  const pos: ScoreBuffer = useF32 ? new Float32Array(nPos) : new Float64Array(nPos);
  const neg: ScoreBuffer = useF32 ? new Float32Array(n - nPos) : new Float64Array(n - nPos);
  let p = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    if (label === true || label === 1) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
  pos.sort();
  neg.sort();
  return { pos, neg };
}

/**
 * Mann-Whitney AUC from ascending-sorted positives and negatives: the probability that a random positive
 * outscores a random negative, ties counted as 1/2. NaN when either class is empty.
 * The sum is of half-integers bounded by nPos*nNeg, exact in float64 up to ~9e15 pairs.
 */
function aucFromSorted(pos: ScoreBuffer, neg: ScoreBuffer): number {
  const nPos = pos.length;
  const nNeg = neg.length;
  if (nPos === 0 || nNeg === 0) return NaN;
  let less = 0; // negatives strictly below the current positive
  let lessOrEqual = 0; // negatives <= the current positive
  let sum = 0;
  for (let i = 0; i < nPos; i++) {
    const s = pos[i];
    while (less < nNeg && neg[less] < s) less++;
    if (lessOrEqual < less) lessOrEqual = less;
    while (lessOrEqual < nNeg && neg[lessOrEqual] <= s) lessOrEqual++;
    sum += less + 0.5 * (lessOrEqual - less);
  }
  return sum / (nPos * nNeg);
}

/**
 * Walks the distinct score values from highest to lowest. For each distinct value v, `visit(v, tp, fp)` gets
 * the cumulative counts of positives / negatives with score >= v. Tied scores are one step.
 */
function sweepDescending(
  pos: ScoreBuffer,
  neg: ScoreBuffer,
  visit: (value: number, tp: number, fp: number) => void,
): void {
  let i = pos.length - 1;
  let j = neg.length - 1;
  let tp = 0;
  let fp = 0;
  while (i >= 0 || j >= 0) {
    let v: number;
    if (i < 0) v = neg[j];
    else if (j < 0) v = pos[i];
    else v = pos[i] > neg[j] ? pos[i] : neg[j];
    while (i >= 0 && pos[i] === v) {
      tp++;
      i--;
    }
    while (j >= 0 && neg[j] === v) {
      fp++;
      j--;
    }
    visit(v, tp, fp);
  }
}

/** a / b, NaN when b is 0 (an undefined rate, e.g. recall with no positives). */
function ratio(a: number, b: number): number {
  return b === 0 ? NaN : a / b;
}

/**
 * ROC curve with one point per distinct score (ties form a single point) plus the (0,0) start.
 * Rule for point i: anomaly when score >= thresholds[i]. Intermediate collinear points are kept.
 * With no negatives fpr is all NaN; with no positives tpr is all NaN. Empty input gives empty arrays.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): RocCurve {
  const { pos, neg } = splitSorted(scores, labels);
  if (pos.length + neg.length === 0) return { fpr: [], tpr: [], thresholds: [] };
  const nPos = pos.length;
  const nNeg = neg.length;
  const fpr: number[] = [ratio(0, nNeg)];
  const tpr: number[] = [ratio(0, nPos)];
  const thresholds: number[] = [Infinity];
  sweepDescending(pos, neg, (v, tp, fp) => {
    fpr.push(ratio(fp, nNeg));
    tpr.push(ratio(tp, nPos));
    thresholds.push(v);
  });
  return { fpr, tpr, thresholds };
}

/**
 * Exact area under the ROC curve (Mann-Whitney U / (nPos*nNeg)), ties counted as 1/2. O(n log n), no
 * per-element objects, fine for tens of millions of entries. NaN for empty input or a single class.
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  const { pos, neg } = splitSorted(scores, labels);
  return aucFromSorted(pos, neg);
}

/**
 * Average precision, sklearn's definition: AP = sum_n (R_n - R_{n-1}) * P_n over the distinct score
 * thresholds in decreasing order (R_0 = 0), i.e. a step-wise (not trapezoidal) area under the PR curve.
 * NaN for empty input or a single class (with no negatives it would be trivially 1 and meaningless).
 */
export function auprc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  const { pos, neg } = splitSorted(scores, labels);
  const nPos = pos.length;
  if (nPos === 0 || neg.length === 0) return NaN;
  let ap = 0;
  let prevRecall = 0;
  sweepDescending(pos, neg, (_v, tp, fp) => {
    const recall = tp / nPos;
    if (recall !== prevRecall) {
      ap += (recall - prevRecall) * (tp / (tp + fp));
      prevRecall = recall;
    }
  });
  return ap;
}

/**
 * Confusion counts and precision / recall / F1 with the rule "anomaly when score > threshold" (strictly).
 * Strict because the station's threshold is defined as the highest good score still tolerated: a part that
 * scores exactly the threshold passes, and a threshold taken from a good score keeps that image passing.
 * Rates follow the counts: precision = tp/(tp+fp), recall = tp/(tp+fn), f1 = 2tp/(2tp+fp+fn); each is NaN
 * only when its denominator is 0 (e.g. precision when nothing is flagged, recall when there are no anomalies).
 */
export function f1AtThreshold(
  scores: ArrayLike<number>,
  labels: ArrayLike<number | boolean>,
  threshold: number,
): ThresholdStats {
  checkLengths(scores, labels);
  if (Number.isNaN(threshold)) throw new RangeError('threshold is NaN');
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (Number.isNaN(s)) throw nanScoreError(i);
    const positive = isPositiveLabel(labels[i], i);
    const flagged = s > threshold;
    if (positive) {
      if (flagged) tp++;
      else fn++;
    } else if (flagged) fp++;
    else tn++;
  }
  return {
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    tp,
    fp,
    tn,
    fn,
  };
}

/**
 * Threshold maximising F1 under the rule "anomaly when score > threshold".
 * The returned threshold is always one of the input scores (the highest score left unflagged), so
 * f1AtThreshold(scores, labels, result.threshold) reproduces the optimum exactly; the single exception is
 * when flagging everything is optimal, where the threshold is -Infinity. Among equal F1 values the highest
 * threshold (fewest flags) wins. All fields NaN for empty input or a single class.
 */
export function f1OptimalThreshold(
  scores: ArrayLike<number>,
  labels: ArrayLike<number | boolean>,
): F1Optimum {
  const { pos, neg } = splitSorted(scores, labels);
  const nPos = pos.length;
  if (nPos === 0 || neg.length === 0) return { threshold: NaN, f1: NaN, precision: NaN, recall: NaN };
  // Sweep distinct values high -> low. After visiting value v the flagged set is {score >= v}; the rule
  // "score > t" reproduces it with t = the next lower distinct value, which we only learn on the next step.
  let bestF1 = -1;
  let bestThreshold = NaN;
  let bestTp = 0;
  let bestFp = 0;
  let pendingTp = 0;
  let pendingFp = 0;
  const consider = (threshold: number): void => {
    const f1 = (2 * pendingTp) / (2 * pendingTp + pendingFp + (nPos - pendingTp));
    if (f1 > bestF1) {
      bestF1 = f1;
      bestThreshold = threshold;
      bestTp = pendingTp;
      bestFp = pendingFp;
    }
  };
  sweepDescending(pos, neg, (v, tp, fp) => {
    // The set flagged so far (scores strictly above v; nothing on the first step, where v is the maximum)
    // is reproduced by threshold v.
    consider(v);
    pendingTp = tp;
    pendingFp = fp;
  });
  consider(-Infinity); // flag everything
  return {
    threshold: bestThreshold,
    f1: bestF1,
    precision: ratio(bestTp, bestTp + bestFp),
    recall: bestTp / nPos,
  };
}

/**
 * q-th quantile (q in [0,1]) with linear interpolation between order statistics, identical to numpy's
 * default (`method='linear'`): h = (n-1)q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * NaN for empty input; NaN values rejected.
 */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile q must be in [0, 1], got ${q}`);
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (Number.isNaN(v)) throw new RangeError(`values[${i}] is NaN`);
    sorted[i] = v;
  }
  sorted.sort();
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const frac = h - lo;
  const a = sorted[lo];
  const b = sorted[hi];
  if (frac === 0 || a === b) return a;
  return a + frac * (b - a);
}

/**
 * Threshold that lets roughly `targetFalseAlarmRate` of good parts through as false alarms:
 * quantile(goodScores, 1 - rate). With the strict "score > threshold" rule at most ~rate of the good
 * scores lie above it. rate must be in [0, 1]. NaN for empty input.
 */
export function quantileThreshold(goodScores: ArrayLike<number>, targetFalseAlarmRate: number): number {
  if (!(targetFalseAlarmRate >= 0 && targetFalseAlarmRate <= 1)) {
    throw new RangeError(`targetFalseAlarmRate must be in [0, 1], got ${targetFalseAlarmRate}`);
  }
  return quantile(goodScores, 1 - targetFalseAlarmRate);
}

/**
 * Pixel-level AUROC over a set of anomaly maps and ground-truth masks (mask > 0 = defect pixel).
 * Equivalent to concatenating all maps / masks and calling auroc, but fills the two per-class buffers
 * directly (no concatenated score + label arrays). NaN when there is no defect pixel or no good pixel.
 */
export function pixelAuroc(maps: Float32Array[], masks: Uint8Array[]): number {
  if (maps.length !== masks.length) {
    throw new RangeError(`pixelAuroc: ${maps.length} maps but ${masks.length} masks`);
  }
  let nPos = 0;
  let total = 0;
  for (let m = 0; m < maps.length; m++) {
    const map = maps[m];
    const mask = masks[m];
    if (map.length !== mask.length) {
      throw new RangeError(`pixelAuroc: map ${m} has ${map.length} pixels but its mask has ${mask.length}`);
    }
    total += map.length;
    for (let i = 0; i < mask.length; i++) {
      if (Number.isNaN(map[i])) throw new RangeError(`pixelAuroc: map ${m} pixel ${i} is NaN`);
      if (mask[i] > 0) nPos++;
    }
  }
  if (nPos === 0 || nPos === total) return NaN;
  const pos = new Float32Array(nPos);
  const neg = new Float32Array(total - nPos);
  let p = 0;
  let q = 0;
  for (let m = 0; m < maps.length; m++) {
    const map = maps[m];
    const mask = masks[m];
    for (let i = 0; i < map.length; i++) {
      if (mask[i] > 0) pos[p++] = map[i];
      else neg[q++] = map[i];
    }
  }
  pos.sort();
  neg.sort();
  return aucFromSorted(pos, neg);
}

/**
 * Connected regions of a mask (pixels > 0, 8-connected, as the MVTec AD evaluation labels them): a label per
 * pixel (0 = background, 1..n = region) and the region count.
 */
export function labelRegions(mask: Uint8Array, width: number): { labels: Int32Array; count: number } {
  const height = mask.length / width;
  const labels = new Int32Array(mask.length);
  const stack: number[] = [];
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    count += 1;
    labels[start] = count;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % width;
      const y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const q = ny * width + nx;
          if (mask[q] && !labels[q]) {
            labels[q] = count;
            stack.push(q);
          }
        }
    }
  }
  return { labels, count };
}

/**
 * PRO, the per-region overlap score (Bergmann et al., "Uninformed Students", CVPR 2020; the MVTec AD
 * benchmark's localisation metric): for a threshold, each ground-truth region's share of pixels above it,
 * averaged over all regions of all images, so a small defect counts as much as a large one; plotted against
 * the false-positive rate on defect-free pixels and integrated from 0 to `maxFpr` (default 0.3), normalised
 * to [0, 1]. Thresholds sit at `steps` evenly spaced false-positive rates, read off the sorted good pixels
 * (sampled to at most 2 million when there are more). NaN when there is no region.
 */
export function perRegionOverlap(
  maps: Float32Array[],
  masks: Uint8Array[],
  widths: number[],
  maxFpr = 0.3,
  steps = 300,
): number {
  if (maps.length !== masks.length || maps.length !== widths.length)
    throw new RangeError('perRegionOverlap: maps, masks and widths differ in count');
  let negatives = 0;
  for (const m of masks) for (let i = 0; i < m.length; i++) if (!m[i]) negatives++;
  const stride = Math.max(1, Math.ceil(negatives / 2_000_000));
  const neg: number[] = [];
  const regions: Float32Array[] = [];
  let seen = 0;
  for (let k = 0; k < maps.length; k++) {
    const map = maps[k];
    const mask = masks[k];
    if (map.length !== mask.length)
      throw new RangeError(`perRegionOverlap: map ${k} and its mask differ in size`);
    for (let i = 0; i < mask.length; i++) if (!mask[i] && seen++ % stride === 0) neg.push(map[i]);
    const { labels, count } = labelRegions(mask, widths[k]);
    if (!count) continue;
    const parts: number[][] = Array.from({ length: count }, () => []);
    for (let i = 0; i < labels.length; i++) if (labels[i]) parts[labels[i] - 1].push(map[i]);
    for (const p of parts) regions.push(Float32Array.from(p).sort());
  }
  if (!regions.length || !neg.length) return NaN;
  const sortedNeg = Float64Array.from(neg).sort();
  // Threshold for a false-positive rate f: the good pixels' (1 - f) quantile (scores above it are flagged).
  const fprs: number[] = [];
  const pros: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const fpr = (maxFpr * s) / steps;
    const idx = Math.min(sortedNeg.length - 1, Math.floor((1 - fpr) * sortedNeg.length));
    const t = fpr === 0 ? sortedNeg[sortedNeg.length - 1] : sortedNeg[idx];
    let sum = 0;
    for (const r of regions) sum += (r.length - upperBound(r, t)) / r.length;
    fprs.push(fpr);
    pros.push(sum / regions.length);
  }
  let area = 0;
  for (let s = 1; s < fprs.length; s++) area += ((fprs[s] - fprs[s - 1]) * (pros[s] + pros[s - 1])) / 2;
  return area / maxFpr;
}

/** Index of the first element of sorted `a` greater than `t`. */
function upperBound(a: Float32Array, t: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
