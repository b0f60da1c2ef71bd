// Synthetic "parts" for tests: a good part is a smooth textured disc with sensor noise; a defect is a
// bright or dark blob at a random place. Deterministic per seed, so tests never need ../shared data.
import { Rng, type ImageSample } from '../../src/ml/data';

export interface SyntheticOptions {
  size: number;
  channels: 1 | 3;
  seed: number;
  defect?: boolean;
}

export function syntheticPart(o: SyntheticOptions): { sample: ImageSample; mask: Uint8Array } {
  const rng = new Rng(o.seed);
  const { size, channels } = o;
  const data = new Uint8Array(size * size * channels);
  const mask = new Uint8Array(size * size);
  const cx = size / 2 + (rng.next() - 0.5) * 2;
  const cy = size / 2 + (rng.next() - 0.5) * 2;
  const r = size * 0.38;
  const bx = size * (0.3 + rng.next() * 0.4);
  const by = size * (0.3 + rng.next() * 0.4);
  const br = size * 0.09;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = Math.hypot(x - cx, y - cy) < r;
      let v = inside ? 150 + 30 * Math.sin(x / 2.5) : 40;
      v += (rng.next() - 0.5) * 12;
      if (o.defect && Math.hypot(x - bx, y - by) < br) {
        v = 250;
        mask[y * size + x] = 255;
      }
      for (let c = 0; c < channels; c++)
        data[(y * size + x) * channels + c] = Math.max(0, Math.min(255, v + c * 5));
    }
  }
  return { sample: { data, width: size, height: size, channels }, mask };
}

export function syntheticSet(
  n: number,
  o: Omit<SyntheticOptions, 'seed'> & { seed?: number },
): ImageSample[] {
  return Array.from(
    { length: n },
    (_, i) => syntheticPart({ ...o, seed: (o.seed ?? 1) * 10_000 + i }).sample,
  );
}

export interface TexturedOptions {
  width: number;
  height: number;
  channels: 1 | 3;
  seed: number;
  /** A dark scratch (a thin line) or a dark spot at a random place; the mask marks it. */
  defect?: 'scratch' | 'spot';
  /** A drifted lot: the stripes' pitch changes (a new tool, a new supplier), still a good part. */
  pitch?: number;
}

/**
 * A rectangular "machined surface" at native resolution: brushed stripes of random phase, a slow shading and
 * sensor noise, so no two good parts are pixel-identical; a defect is a thin dark scratch or a small dark pit
 * (the size of what squashing to 224 px erases). Deterministic per seed.
 */
export function texturedPart(o: TexturedOptions): { sample: ImageSample; mask: Uint8Array } {
  const rng = new Rng(o.seed);
  const { width, height, channels } = o;
  const data = new Uint8Array(width * height * channels);
  const mask = new Uint8Array(width * height);
  const phase = rng.next() * 10;
  const shade = 0.5 + rng.next();
  // Scratch: a line from (x0, y0) at an angle; spot: a disc.
  const x0 = width * (0.25 + rng.next() * 0.5);
  const y0 = height * (0.25 + rng.next() * 0.5);
  const angle = rng.next() * Math.PI;
  const len = Math.min(width, height) * 0.3;
  const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v =
        120 + 25 * Math.sin(x / (o.pitch ?? 3) + phase) + 10 * Math.sin(y / 17) + (shade * 20 * y) / height;
      v += (rng.next() - 0.5) * 16;
      let hit = false;
      if (o.defect === 'spot') hit = Math.hypot(x - x0, y - y0) < 3.5;
      if (o.defect === 'scratch') {
        const t = (x - x0) * dx + (y - y0) * dy;
        const off = Math.abs(-(x - x0) * dy + (y - y0) * dx);
        hit = t > -len / 2 && t < len / 2 && off < 1.2;
      }
      if (hit) {
        v = 35;
        mask[y * width + x] = 255;
      }
      for (let c = 0; c < channels; c++)
        data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v + c * 4)));
    }
  }
  return { sample: { data, width, height, channels }, mask };
}
