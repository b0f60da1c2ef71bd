// Tests for src/ml/colormap.ts: Turbo endpoints/shape, heatmap RGBA rendering and blending over the base image.
import { describe, expect, it } from 'vitest';
import { heatmapRgba, overlayRgba, turbo, TURBO_LUT } from '../../src/ml/colormap';

describe('turbo', () => {
  it('t = 0 is dark and blue-ish, turning blue quickly', () => {
    const [r, g, b] = turbo(0);
    expect(Math.max(r, g, b)).toBeLessThan(64);
    expect(b).toBeGreaterThan(g);
    const [r1, g1, b1] = turbo(0.1);
    expect(b1).toBeGreaterThan(Math.max(r1, g1) + 100);
  });

  it('t = 1 is dark red', () => {
    const [r, g, b] = turbo(1);
    expect(r).toBeGreaterThan(100);
    expect(r).toBeLessThan(200);
    expect(g).toBeLessThan(40);
    expect(b).toBeLessThan(40);
  });

  it('middle is green, output is clamped integer bytes', () => {
    const [r, g, b] = turbo(0.5);
    expect(g).toBeGreaterThan(200);
    expect(g).toBeGreaterThan(r);
    expect(g).toBeGreaterThan(b);
    expect(turbo(-3)).toEqual(turbo(0));
    expect(turbo(7)).toEqual(turbo(1));
    expect(turbo(NaN)).toEqual(turbo(0));
    for (let i = 0; i <= 100; i++) {
      for (const c of turbo(i / 100)) {
        expect(Number.isInteger(c) && c >= 0 && c <= 255 && !Object.is(c, -0)).toBe(true);
      }
    }
  });

  it('LUT entries equal turbo(i / 255)', () => {
    expect(TURBO_LUT.length).toBe(768);
    for (const i of [0, 1, 64, 128, 200, 255]) {
      expect(Array.from(TURBO_LUT.subarray(i * 3, i * 3 + 3))).toEqual(turbo(i / 255));
    }
  });
});

describe('heatmapRgba', () => {
  it('maps vmin to the cold end and vmax to the hot end, opaque', () => {
    const map = new Float32Array([0, 5, 10, -4, 99, NaN]);
    const out = heatmapRgba(map, 3, 2, { vmin: 0, vmax: 10 });
    expect(out).toBeInstanceOf(Uint8ClampedArray);
    expect(out.length).toBe(24);
    const px = (p: number): number[] => Array.from(out.subarray(p * 4, p * 4 + 4));
    expect(px(0)).toEqual([...turbo(0), 255]);
    expect(px(1)).toEqual([...turbo(128 / 255), 255]); // 0.5 * 255 rounds to LUT entry 128
    expect(px(2)).toEqual([...turbo(1), 255]);
    expect(px(3)).toEqual(px(0)); // below vmin clamps
    expect(px(4)).toEqual(px(2)); // above vmax clamps
    expect(px(5)).toEqual(px(0)); // NaN -> cold end
  });

  it('vmin == vmax is a step; invalid ranges and sizes throw', () => {
    const out = heatmapRgba(new Float32Array([1, 2]), 2, 1, { vmin: 1, vmax: 1 });
    expect(Array.from(out.subarray(0, 3))).toEqual(turbo(0));
    expect(Array.from(out.subarray(4, 7))).toEqual(turbo(1));
    expect(() => heatmapRgba(new Float32Array(2), 2, 1, { vmin: 1, vmax: 0 })).toThrow(RangeError);
    expect(() => heatmapRgba(new Float32Array(3), 2, 1, { vmin: 0, vmax: 1 })).toThrow(/expected 2x1/);
  });
});

describe('overlayRgba', () => {
  const map = new Float32Array([0, 0.25, 0.5, 1]);
  const grey = new Uint8Array([0, 80, 160, 255]);
  const rgb = new Uint8Array([10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 210, 220]);

  it('opacity 0 returns the base image (grey and RGB)', () => {
    const g = overlayRgba(grey, map, 2, 2, { vmin: 0, vmax: 1, opacity: 0 });
    expect(Array.from(g)).toEqual([0, 0, 0, 255, 80, 80, 80, 255, 160, 160, 160, 255, 255, 255, 255, 255]);
    const c = overlayRgba(rgb, map, 2, 2, { vmin: 0, vmax: 1, opacity: 0 });
    expect(Array.from(c)).toEqual([10, 20, 30, 255, 40, 50, 60, 255, 70, 80, 90, 255, 200, 210, 220, 255]);
  });

  it('opacity 1 returns the heatmap', () => {
    const out = overlayRgba(rgb, map, 2, 2, { vmin: 0, vmax: 1, opacity: 1 });
    expect(Array.from(out)).toEqual(Array.from(heatmapRgba(map, 2, 2, { vmin: 0, vmax: 1 })));
  });

  it('default opacity 0.5 blends half and half', () => {
    const out = overlayRgba(grey, map, 2, 2, { vmin: 0, vmax: 1 });
    const heat = heatmapRgba(map, 2, 2, { vmin: 0, vmax: 1 });
    for (let p = 0; p < 4; p++) {
      for (let c = 0; c < 3; c++) {
        expect(Math.abs(out[p * 4 + c] - (grey[p] + heat[p * 4 + c]) / 2)).toBeLessThanOrEqual(0.5);
      }
      expect(out[p * 4 + 3]).toBe(255);
    }
  });

  it('validates base size and opacity', () => {
    expect(() => overlayRgba(new Uint8Array(5), map, 2, 2, { vmin: 0, vmax: 1 })).toThrow(/grey/);
    expect(() => overlayRgba(grey, map, 2, 2, { vmin: 0, vmax: 1, opacity: 1.5 })).toThrow(/opacity/);
  });
});
