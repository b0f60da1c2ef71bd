// The Calibrate chart's axis: round, evenly spaced ticks whose range holds every value with a margin, so
// a threshold at the highest score is drawn inside the plot, not on its edge.
import { describe, expect, it } from 'vitest';
import { niceAxis } from '../../src/renderer/src/analysis';

/** The ticks chart.js draws for an axis: min, min + step, ..., max. */
const ticks = (a: { min: number; max: number; step: number; decimals: number }) => {
  const out: string[] = [];
  for (let i = 0; a.min + i * a.step <= a.max + a.step / 1e6; i++)
    out.push((a.min + i * a.step).toFixed(a.decimals));
  return out;
};

describe('niceAxis', () => {
  it('gives even round ticks for the uneven range of the issue (0.51 .. 0.66)', () => {
    const a = niceAxis([0.513, 0.552, 0.61, 0.6601]);
    expect(a).toMatchObject({ step: 0.05, decimals: 2 });
    expect(ticks(a)).toEqual(['0.50', '0.55', '0.60', '0.65', '0.70']);
    // A narrow span: 0.3800 .. 0.3856 (the e2e model's held-out scores, the threshold at the top).
    const b = niceAxis([0.38, 0.3856]);
    expect(b).toMatchObject({ step: 0.002, decimals: 3 });
    expect(ticks(b)).toEqual(['0.378', '0.380', '0.382', '0.384', '0.386', '0.388']);
    // A span that steps in 2.5s needs one more decimal.
    expect(niceAxis([0, 0.13], 6, 0)).toMatchObject({ min: 0, max: 0.15, step: 0.025, decimals: 3 });
  });

  it('keeps the largest value (a threshold at the top score) off the edge, by 8 % of the span', () => {
    for (const values of [
      [0.38, 0.3856],
      [1, 2, 3, 8.185],
      [120, 950, 1000],
      [0.000123, 0.000456],
      [-3, -1],
    ]) {
      const a = niceAxis(values);
      const span = Math.max(...values) - Math.min(...values);
      expect(a.max - Math.max(...values)).toBeGreaterThanOrEqual(0.08 * span * (1 - 1e-9));
      expect(Math.min(...values) - a.min).toBeGreaterThanOrEqual(0.08 * span * (1 - 1e-9));
      // Every tick is a whole number of steps from zero: round numbers, evenly spaced.
      for (const t of ticks(a))
        expect(Math.abs(Number(t) / a.step - Math.round(Number(t) / a.step))).toBeLessThan(1e-6);
      expect(ticks(a).length).toBeGreaterThanOrEqual(4);
      expect(ticks(a).length).toBeLessThanOrEqual(12);
    }
  });

  it('copes with one value and with none', () => {
    const one = niceAxis([5, 5]);
    expect(one.min).toBeLessThan(5);
    expect(one.max).toBeGreaterThan(5);
    expect(niceAxis([NaN])).toEqual({ min: 0, max: 1, step: 0.2, decimals: 1 });
  });
});
