// Tests for src/ml/calibration.ts: thresholds from held-out scores, the fixed 0..1 display scale, verdicts, slider rates.
import { describe, expect, it } from 'vitest';
import {
  calibrate,
  expectedRates,
  normaliseScore,
  verdict,
  type Calibration,
} from '../../src/ml/calibration';
import { f1AtThreshold } from '../../src/ml/metrics';

/** 0..999 in a scrambled order (7 is coprime with 1000), so nothing relies on sorted input. */
const GOOD_1000 = Array.from({ length: 1000 }, (_, i) => (i * 7) % 1000);

describe('calibrate (quantile)', () => {
  const cal = calibrate(GOOD_1000);

  it('threshold is the 99.5th percentile of the good scores', () => {
    expect(cal.method).toBe('quantile');
    expect(cal.targetFalseAlarmRate).toBe(0.005);
    expect(cal.threshold).toBeCloseTo(994.005, 9); // numpy.quantile(arange(1000), 0.995)
    expect(cal.goodStats.p995).toBeCloseTo(994.005, 9);
    expect(cal.defectCount).toBe(0);
  });

  it('records good-score statistics', () => {
    const s = cal.goodStats;
    expect(s.n).toBe(1000);
    expect(s.mean).toBeCloseTo(499.5, 9);
    expect(s.std).toBeCloseTo(Math.sqrt((1000 * 1000 - 1) / 12), 9); // population std of 0..999
    expect(s.min).toBe(0);
    expect(s.max).toBe(999);
    expect(s.p50).toBeCloseTo(499.5, 9);
    expect(s.p95).toBeCloseTo(949.05, 9);
    expect(s.p99).toBeCloseTo(989.01, 9);
  });

  it('anchors are symmetric around the threshold', () => {
    expect(cal.low).toBe(0);
    expect(cal.high).toBeCloseTo(2 * 994.005, 9);
  });

  it('custom false-alarm rate', () => {
    expect(calibrate(GOOD_1000, { targetFalseAlarmRate: 0.05 }).threshold).toBeCloseTo(949.05, 9);
  });

  it('rejects too few, non-finite scores and bad rates', () => {
    expect(() => calibrate([1, 2, 3])).toThrow(/at least 10/);
    expect(() => calibrate([...GOOD_1000.slice(0, 20), NaN])).toThrow(/finite/);
    expect(() => calibrate([...GOOD_1000.slice(0, 20), Infinity])).toThrow(/finite/);
    expect(() => calibrate(GOOD_1000, { targetFalseAlarmRate: 1 })).toThrow(RangeError);
    expect(() => calibrate(GOOD_1000, { targetFalseAlarmRate: -0.1 })).toThrow(RangeError);
    expect(() => calibrate(GOOD_1000, { method: 'f1' })).toThrow(/defectScores/);
  });

  it('guards against zero spread', () => {
    const flat = calibrate(new Array(20).fill(0.3));
    expect(flat.threshold).toBe(0.3);
    expect(flat.low).toBeLessThan(0.3);
    expect(flat.high).toBeGreaterThan(0.3);
    expect(normaliseScore(0.3, flat)).toBe(0.5);
    expect(normaliseScore(0.31, flat)).toBe(1);
    expect(normaliseScore(0.29, flat)).toBe(0);
  });
});

describe('calibrate (f1)', () => {
  const good = Array.from({ length: 50 }, (_, i) => 0.1 + i * 0.004); // 0.1 .. 0.296
  const defects = Array.from({ length: 12 }, (_, i) => 0.5 + i * 0.03); // 0.5 .. 0.83

  it('separable data: F1 = 1 and a threshold between the classes', () => {
    const cal = calibrate(good, { defectScores: defects });
    expect(cal.method).toBe('f1'); // default when defects are given
    expect(cal.defectCount).toBe(12);
    expect(cal.threshold).toBeGreaterThanOrEqual(Math.max(...good));
    expect(cal.threshold).toBeLessThan(Math.min(...defects));
    const labels = [...good.map(() => 0), ...defects.map(() => 1)];
    expect(f1AtThreshold([...good, ...defects], labels, cal.threshold).f1).toBe(1);
    expect(expectedRates(cal, good, defects)).toEqual({ falseAlarmRate: 0, recall: 1 });
  });

  it('quantile method can be forced even with defects', () => {
    const cal = calibrate(good, { defectScores: defects, method: 'quantile' });
    expect(cal.method).toBe('quantile');
    expect(cal.defectCount).toBe(12);
  });

  it('refuses an F1 optimum that flags everything', () => {
    const g = Array.from({ length: 10 }, (_, i) => 0.5 + i * 0.01);
    const d = Array.from({ length: 100 }, () => 0.1);
    expect(() => calibrate(g, { defectScores: d })).toThrow(/flags every part/);
  });
});

describe('normaliseScore', () => {
  const cal = calibrate(GOOD_1000);

  it('is exactly 0.5 at the threshold, 0 at low, 1 at high, clamped outside', () => {
    expect(normaliseScore(cal.threshold, cal)).toBe(0.5);
    expect(normaliseScore(cal.low, cal)).toBe(0);
    expect(normaliseScore(cal.high, cal)).toBe(1);
    expect(normaliseScore(-1e9, cal)).toBe(0);
    expect(normaliseScore(1e9, cal)).toBe(1);
    expect(normaliseScore(cal.threshold / 2, cal)).toBeCloseTo(0.25, 12);
    expect(normaliseScore(cal.threshold * 1.5, cal)).toBeCloseTo(0.75, 12);
    expect(normaliseScore(NaN, cal)).toBeNaN();
  });

  it('is monotone non-decreasing and within [0, 1] over a sweep', () => {
    const cals: Calibration[] = [
      cal,
      calibrate(new Array(20).fill(5)),
      calibrate(GOOD_1000.map((v) => -v / 1e6)),
    ];
    for (const c of cals) {
      const from = c.low - (c.high - c.low);
      const to = c.high + (c.high - c.low);
      const raws = Array.from({ length: 4001 }, (_, k) => from + ((to - from) * k) / 4000);
      raws.push(c.low, c.threshold, c.high);
      raws.sort((a, b) => a - b);
      const values = raws.map((r) => normaliseScore(r, c));
      expect(values.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(values.every((v, i) => i === 0 || v >= values[i - 1])).toBe(true);
      expect(values[0]).toBe(0);
      expect(values.at(-1)).toBe(1);
    }
  });
});

describe('verdict and expectedRates', () => {
  const cal = calibrate(GOOD_1000);

  it('flags strictly above the threshold, honours an override, refuses NaN', () => {
    expect(verdict(cal.threshold, cal)).toBe('pass');
    expect(verdict(cal.threshold + 1e-9, cal)).toBe('flag');
    expect(verdict(500, cal)).toBe('pass');
    expect(verdict(500, cal, 400)).toBe('flag');
    expect(() => verdict(NaN, cal)).toThrow(/NaN/);
  });

  it('reports the false-alarm rate and recall a slider position would give', () => {
    // 5 good scores (995..999) lie above 994.005.
    expect(expectedRates(cal, GOOD_1000)).toEqual({ falseAlarmRate: 0.005 });
    expect(expectedRates(cal, GOOD_1000, [990, 996, 1200, 2000], 949.05)).toEqual({
      falseAlarmRate: 0.05,
      recall: 1,
    });
    expect(expectedRates(cal, GOOD_1000, [990, 996, 1200, 2000])).toEqual({
      falseAlarmRate: 0.005,
      recall: 0.75,
    });
    expect(expectedRates(cal, GOOD_1000, null, 2000)).toEqual({ falseAlarmRate: 0 });
    expect(expectedRates(cal, []).falseAlarmRate).toBeNaN();
  });
});
