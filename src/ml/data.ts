// Images as the engine sees them (8-bit pixels, HWC) and how they become batches in [-1, 1]: whole images
// already resized by the caller, or random crops for patch mode. A seeded RNG makes shuffles and crops
// repeatable.
import * as tf from '@tensorflow/tfjs';

export interface ImageSample {
  /** 8-bit pixels, row-major HWC. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** mulberry32: a tiny, fast, seedable PRNG (Math.random cannot be seeded). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
  get state(): number {
    return this.s;
  }
  set state(v: number) {
    this.s = v >>> 0;
  }
}

/** Pixels [0,255] -> [-1,1], the tanh range of the generators. */
export const PIXEL_SCALE = { from: 'uint8', to: [-1, 1] as [number, number] };

function toFloat(src: Uint8Array, dst: Float32Array, offset: number): void {
  for (let i = 0; i < src.length; i++) dst[offset + i] = src[i] / 127.5 - 1;
}

/** A batch as plain memory: NHWC float32 in [-1,1] (what every scoring engine takes). */
export interface ImageBatch {
  data: Float32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
}

/** Stack same-sized samples into an NHWC batch in [-1,1]. */
export function toBatch(samples: ImageSample[]): tf.Tensor4D {
  const b = toImageBatch(samples);
  return tf.tensor4d(b.data, [b.n, b.height, b.width, b.channels]);
}

/** Stack same-sized samples into an ImageBatch (NHWC, [-1,1]). */
export function toImageBatch(samples: ImageSample[]): ImageBatch {
  if (!samples.length) throw new Error('empty batch');
  const { width, height, channels } = samples[0];
  const per = width * height * channels;
  const buf = new Float32Array(per * samples.length);
  samples.forEach((s, i) => {
    if (s.width !== width || s.height !== height || s.channels !== channels) {
      throw new Error(
        `batch images differ in shape: ${s.width}x${s.height}x${s.channels} vs ${width}x${height}x${channels}`,
      );
    }
    toFloat(s.data, buf, i * per);
  });
  return { data: buf, n: samples.length, height, width, channels };
}

/** Copy a size x size window at (x0, y0) out of a sample. */
export function crop(s: ImageSample, x0: number, y0: number, size: number): ImageSample {
  const c = s.channels;
  const out = new Uint8Array(size * size * c);
  for (let y = 0; y < size; y++) {
    const src = ((y0 + y) * s.width + x0) * c;
    out.set(s.data.subarray(src, src + size * c), y * size * c);
  }
  return { data: out, width: size, height: size, channels: c };
}

/** One random crop per sample (patch-mode training). Samples must be at least size x size. */
export function randomCrops(samples: ImageSample[], size: number, rng: Rng): ImageSample[] {
  return samples.map((s) => {
    if (s.width < size || s.height < size)
      throw new Error(`image ${s.width}x${s.height} is smaller than the ${size}px patch`);
    return crop(s, rng.int(s.width - size + 1), rng.int(s.height - size + 1), size);
  });
}
