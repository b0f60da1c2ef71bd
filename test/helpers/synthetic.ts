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
