// Turbo colormap and anomaly-map rendering (heatmap RGBA, heatmap blended over the inspected image); pure TS.
//
// Turbo colormap: design by Anton Mikhailov, polynomial approximation by Ruofei Du, Google LLC 2019
// (Apache-2.0). https://ai.googleblog.com/2019/08/turbo-improved-rainbow-colormap-for.html
//
// vmin / vmax should come from the model's calibration (e.g. cal.low / cal.high), not from the map being
// shown: per-image min-max stretching paints every image's mildest blemish bright red.

export type Rgb = [r: number, g: number, b: number];

export interface HeatmapOptions {
  /** Score mapped to the cold end of the colormap. */
  vmin: number;
  /** Score mapped to the hot end of the colormap. */
  vmax: number;
}

export interface OverlayOptions extends HeatmapOptions {
  /** Heatmap weight in [0, 1]: 0 = base image only, 1 = heatmap only. Default 0.5. */
  opacity?: number;
}

// Polynomial coefficients, degree 0..5, per channel (output in 0..1).
const RED = [0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943] as const;
const GREEN = [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604] as const;
const BLUE = [0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973] as const;

function poly(c: readonly number[], x: number): number {
  // Horner's scheme.
  return c[0] + x * (c[1] + x * (c[2] + x * (c[3] + x * (c[4] + x * c[5]))));
}

function toByte(v: number): number {
  const b = Math.round(v * 255);
  return b > 0 ? (b < 255 ? b : 255) : 0; // also turns -0 into 0
}

/**
 * Turbo colour for t in [0, 1] (clamped; NaN is treated as 0) as 0..255 integer [r, g, b].
 * turbo(0) = [35, 23, 27] (near-black; the polynomial undershoots the LUT's [48, 18, 59] there), going
 * quickly to blue (turbo(0.1) = [73, 88, 221]), bright green at 0.5, dark red at 1 ([144, 13, 0]).
 */
export function turbo(t: number): Rgb {
  const x = t > 0 ? (t < 1 ? t : 1) : 0;
  return [toByte(poly(RED, x)), toByte(poly(GREEN, x)), toByte(poly(BLUE, x))];
}

/** 256-entry RGB lookup table generated from the polynomial (entry i = turbo(i / 255)). */
export const TURBO_LUT: Uint8Array = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const [r, g, b] = turbo(i / 255);
    lut[i * 3] = r;
    lut[i * 3 + 1] = g;
    lut[i * 3 + 2] = b;
  }
  return lut;
})();

function checkMap(map: Float32Array, width: number, height: number): number {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`invalid size ${width}x${height}`);
  }
  const n = width * height;
  if (map.length !== n)
    throw new RangeError(`map has ${map.length} values, expected ${width}x${height} = ${n}`);
  return n;
}

/**
 * Returns a function from a score to a LUT index 0..255. vmax must be >= vmin; when they are equal the
 * scale degenerates to a step (<= vmin cold, > vmin hot). NaN scores map to the cold end.
 */
function lutIndexer(vmin: number, vmax: number): (v: number) => number {
  if (!Number.isFinite(vmin) || !Number.isFinite(vmax)) {
    throw new RangeError(`vmin / vmax must be finite, got ${vmin} / ${vmax}`);
  }
  if (vmax < vmin) throw new RangeError(`vmax (${vmax}) must be >= vmin (${vmin})`);
  if (vmax === vmin) return (v) => (v > vmin ? 255 : 0);
  const scale = 255 / (vmax - vmin);
  return (v) => {
    const i = Math.round((v - vmin) * scale);
    return i > 0 ? (i < 255 ? i : 255) : 0; // also sends NaN to 0
  };
}

/** Renders an anomaly map (row-major, width*height) as opaque Turbo-coloured RGBA pixels. */
export function heatmapRgba(
  map: Float32Array,
  width: number,
  height: number,
  opts: HeatmapOptions,
): Uint8ClampedArray {
  const n = checkMap(map, width, height);
  const index = lutIndexer(opts.vmin, opts.vmax);
  const out = new Uint8ClampedArray(n * 4);
  for (let p = 0; p < n; p++) {
    const k = index(map[p]) * 3;
    const o = p * 4;
    out[o] = TURBO_LUT[k];
    out[o + 1] = TURBO_LUT[k + 1];
    out[o + 2] = TURBO_LUT[k + 2];
    out[o + 3] = 255;
  }
  return out;
}

/**
 * Blends the Turbo heatmap of `map` over the inspected image so the operator sees the part with the hot spot
 * on it: out = (1 - opacity) * base + opacity * heat, alpha 255. `base` is row-major width*height, grey
 * (1 channel) or RGB (3 channels; RGBA with 4 is also accepted, its alpha ignored); the channel count is
 * inferred from its length. opacity 0 returns the base image unchanged (as RGBA).
 */
export function overlayRgba(
  base: Uint8Array | Uint8ClampedArray,
  map: Float32Array,
  width: number,
  height: number,
  opts: OverlayOptions,
): Uint8ClampedArray {
  const n = checkMap(map, width, height);
  let channels: number;
  if (base.length === n) channels = 1;
  else if (base.length === n * 3) channels = 3;
  else if (base.length === n * 4) channels = 4;
  else {
    throw new RangeError(
      `base has ${base.length} bytes; expected ${n} (grey) or ${n * 3} (RGB) for ${width}x${height}`,
    );
  }
  const opacity = opts.opacity ?? 0.5;
  if (!(opacity >= 0 && opacity <= 1)) throw new RangeError(`opacity must be in [0, 1], got ${opacity}`);
  const keep = 1 - opacity;
  const index = lutIndexer(opts.vmin, opts.vmax);
  const out = new Uint8ClampedArray(n * 4);
  for (let p = 0; p < n; p++) {
    const k = index(map[p]) * 3;
    const b = p * channels;
    const r0 = base[b];
    const g0 = channels === 1 ? r0 : base[b + 1];
    const b0 = channels === 1 ? r0 : base[b + 2];
    const o = p * 4;
    // Uint8ClampedArray rounds (half to even) and clamps on store.
    out[o] = keep * r0 + opacity * TURBO_LUT[k];
    out[o + 1] = keep * g0 + opacity * TURBO_LUT[k + 1];
    out[o + 2] = keep * b0 + opacity * TURBO_LUT[k + 2];
    out[o + 3] = 255;
  }
  return out;
}
