// Score calibration: picks the pass/flag threshold from held-out scores and maps raw scores to a fixed 0..1 display scale; pure TS.
//
// Important: we never normalise against the set being judged. Min-max scaling over a test batch (what the
// seed code did) makes every batch span 0..1, so a batch of all-good parts shows "anomalies" and a batch
// of all-bad parts looks normal. The anchors (low / threshold / high) are fixed at training time from
// held-out good images (and optional known defects) and stored with the model.

import { f1OptimalThreshold, quantile, quantileThreshold } from './metrics';

export interface Calibration {
  method: 'quantile' | 'f1';
  targetFalseAlarmRate: number;
  threshold: number;
  goodStats: {
    n: number;
    mean: number;
    std: number;
    min: number;
    max: number;
    p50: number;
    p95: number;
    p99: number;
    p995: number;
  };
  low: number;
  high: number;
  defectCount: number;
}

export interface CalibrateOptions {
  /** Fraction of good parts we accept to flag (quantile method). Default 0.005 (1 in 200). */
  targetFalseAlarmRate?: number;
  /** Scores of known defective parts; enables the F1 method. */
  defectScores?: ArrayLike<number>;
  /** Default: 'f1' when non-empty defectScores are given, else 'quantile'. */
  method?: 'quantile' | 'f1';
}

export interface ExpectedRates {
  /** Fraction of good scores strictly above the threshold (NaN for no good scores). */
  falseAlarmRate: number;
  /** Fraction of defect scores strictly above the threshold; present only when defect scores are given. */
  recall?: number;
}

/** Fewer held-out good scores than this cannot support a meaningful threshold. */
export const MIN_GOOD_SCORES = 10;

export const DEFAULT_TARGET_FALSE_ALARM_RATE = 0.005;

function toFiniteArray(values: ArrayLike<number>, name: string): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v))
      throw new RangeError(`${name}[${i}] = ${v}: calibration scores must be finite numbers`);
    out[i] = v;
  }
  return out;
}

function describe(good: Float64Array): Calibration['goodStats'] {
  const n = good.length;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = good[i];
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const d = good[i] - mean;
    sq += d * d;
  }
  return {
    n,
    mean,
    std: Math.sqrt(sq / n), // population std (numpy's default ddof=0)
    min,
    max,
    p50: quantile(good, 0.5),
    p95: quantile(good, 0.95),
    p99: quantile(good, 0.99),
    p995: quantile(good, 0.995),
  };
}

/**
 * Builds a calibration from held-out good scores (and optionally known defect scores).
 * - quantile: threshold = quantileThreshold(good, targetFalseAlarmRate).
 * - f1: threshold = f1OptimalThreshold over good (label 0) + defects (label 1); targetFalseAlarmRate is
 *   recorded but does not move the threshold.
 * Anchors: low = min good score (lowered to the threshold if that is below it), high = threshold +
 * (threshold - low), so the display scale is symmetric around 0.5. A zero spread falls back to the good
 * scores' std, or a tiny relative spread when every score is identical.
 * Throws on fewer than MIN_GOOD_SCORES good scores, non-finite scores, a rate outside [0, 1), the f1 method
 * without defect scores, or when the F1 optimum would flag every part.
 */
export function calibrate(goodScores: ArrayLike<number>, opts: CalibrateOptions = {}): Calibration {
  if (goodScores.length < MIN_GOOD_SCORES) {
    throw new RangeError(
      `calibrate: need at least ${MIN_GOOD_SCORES} held-out good scores to set a threshold, got ${goodScores.length}`,
    );
  }
  const rate = opts.targetFalseAlarmRate ?? DEFAULT_TARGET_FALSE_ALARM_RATE;
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(`calibrate: targetFalseAlarmRate must be in [0, 1), got ${rate}`);
  }
  const good = toFiniteArray(goodScores, 'goodScores');
  const defects = opts.defectScores ? toFiniteArray(opts.defectScores, 'defectScores') : new Float64Array(0);
  const method = opts.method ?? (defects.length > 0 ? 'f1' : 'quantile');
  const goodStats = describe(good);

  let threshold: number;
  if (method === 'quantile') {
    threshold = quantileThreshold(good, rate);
  } else {
    if (defects.length === 0) {
      throw new RangeError(
        "calibrate: method 'f1' needs defectScores (use 'quantile' with good scores only)",
      );
    }
    const scores = new Float64Array(good.length + defects.length);
    scores.set(good, 0);
    scores.set(defects, good.length);
    const labels = new Uint8Array(scores.length);
    labels.fill(1, good.length);
    const best = f1OptimalThreshold(scores, labels);
    if (!Number.isFinite(best.threshold)) {
      throw new RangeError(
        'calibrate: the F1-optimal threshold flags every part (defect scores do not separate from good ones); ' +
          "check the model or use method 'quantile'",
      );
    }
    threshold = best.threshold;
  }

  let low = Math.min(goodStats.min, threshold);
  let spread = threshold - low;
  if (!(spread > 0) || !(threshold + spread > threshold)) {
    spread = goodStats.std;
    if (!(spread > 0) || !(threshold + spread > threshold) || !(threshold - spread < threshold)) {
      spread = Math.max(Math.abs(threshold), 1) * 1e-6;
    }
    low = threshold - spread;
  }
  const high = threshold + spread;

  return {
    method,
    targetFalseAlarmRate: rate,
    threshold,
    goodStats,
    low,
    high,
    defectCount: defects.length,
  };
}

/**
 * Maps a raw score onto the fixed 0..1 display scale: piecewise-linear [low, threshold] -> [0, 0.5] and
 * [threshold, high] -> [0.5, 1], clamped outside. Monotone non-decreasing; exactly 0.5 at raw == threshold.
 * The anchors come from calibration (held-out good images), never from the images being judged.
 * Returns NaN for a NaN score (use verdict() for decisions: it refuses NaN).
 */
export function normaliseScore(raw: number, cal: Calibration): number {
  if (Number.isNaN(raw)) return NaN;
  const { low, threshold, high } = cal;
  if (raw === threshold) return 0.5;
  if (raw < threshold) {
    if (raw <= low || !(threshold > low)) return 0;
    return 0.5 * ((raw - low) / (threshold - low));
  }
  if (raw >= high || !(high > threshold)) return 1;
  return 0.5 + 0.5 * ((raw - threshold) / (high - threshold));
}

/**
 * 'flag' when raw > threshold (strictly: the threshold is the highest good score tolerated), else 'pass'.
 * overrideThreshold (e.g. from the operator's slider) replaces cal.threshold. Throws on NaN, so a broken
 * score can never pass silently.
 */
export function verdict(raw: number, cal: Calibration, overrideThreshold?: number): 'pass' | 'flag' {
  const threshold = overrideThreshold ?? cal.threshold;
  if (Number.isNaN(raw)) throw new RangeError('verdict: score is NaN');
  if (Number.isNaN(threshold)) throw new RangeError('verdict: threshold is NaN');
  return raw > threshold ? 'flag' : 'pass';
}

function fractionAbove(values: ArrayLike<number>, threshold: number, name: string): number {
  if (values.length === 0) return NaN;
  let above = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) throw new RangeError(`${name}[${i}] is NaN`);
    if (v > threshold) above++;
  }
  return above / values.length;
}

/**
 * Rates a threshold slider would produce on the held-out scores: false-alarm rate on good scores and,
 * when defect scores are given (non-empty), recall on defects. Same strict "score > threshold" rule as
 * verdict(). threshold defaults to cal.threshold.
 */
export function expectedRates(
  cal: Calibration,
  goodScores: ArrayLike<number>,
  defectScores?: ArrayLike<number> | null,
  threshold: number = cal.threshold,
): ExpectedRates {
  if (Number.isNaN(threshold)) throw new RangeError('expectedRates: threshold is NaN');
  const result: ExpectedRates = { falseAlarmRate: fractionAbove(goodScores, threshold, 'goodScores') };
  if (defectScores && defectScores.length > 0) {
    result.recall = fractionAbove(defectScores, threshold, 'defectScores');
  }
  return result;
}
