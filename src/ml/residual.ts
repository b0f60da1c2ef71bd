// The residual map the operator sees: |x - x_hat| averaged over channels, then Gaussian-smoothed so the hot
// spot is a region, not pixel noise. Shared by every method (the anchors' GANomaly had no map at all).
import * as tf from '@tensorflow/tfjs';

/** Normalised 1-D Gaussian taps for sigma (pixels); radius 3 sigma. */
export function gaussianTaps(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const taps = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    taps[i + r] = v;
    sum += v;
  }
  for (let i = 0; i < taps.length; i++) taps[i] /= sum;
  return taps;
}

/** Separable Gaussian blur of a [N,H,W,1] map with mirrored borders (no dark frame at the edges). */
export function gaussianBlur(map: tf.Tensor4D, sigma: number): tf.Tensor4D {
  if (sigma <= 0) return map.clone();
  return tf.tidy(() => {
    const taps = gaussianTaps(sigma);
    const r = (taps.length - 1) / 2;
    const [, h, w] = map.shape;
    // Mirror padding needs r < side; clamp the radius for tiny maps.
    const rh = Math.min(r, h - 1);
    const rw = Math.min(r, w - 1);
    const kh = tf.tensor4d(taps.slice(r - rh, r + rh + 1), [2 * rh + 1, 1, 1, 1]);
    const kw = tf.tensor4d(taps.slice(r - rw, r + rw + 1), [1, 2 * rw + 1, 1, 1]);
    const padded = tf.mirrorPad(
      map,
      [
        [0, 0],
        [rh, rh],
        [rw, rw],
        [0, 0],
      ],
      'reflect',
    );
    const v = tf.conv2d(padded, kh, 1, 'valid');
    return tf.conv2d(v, kw, 1, 'valid');
  });
}

/** Smoothed residual |x - x_hat| (channel mean) as [N,H,W,1]; inputs in [-1,1], output in [0,1] units. */
export function residualMap(x: tf.Tensor4D, xHat: tf.Tensor4D, sigma: number): tf.Tensor4D {
  return tf.tidy(() => {
    // Halve: images live in [-1,1], the operator thinks in [0,1] intensity.
    const r = tf.abs(tf.sub(x, xHat)).mean(-1, true).mul(0.5) as tf.Tensor4D;
    return gaussianBlur(r, sigma);
  });
}

/** Per-image mean absolute error in [0,1] intensity units. */
export function reconstructionError(x: tf.Tensor4D, xHat: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => tf.abs(tf.sub(x, xHat)).mean([1, 2, 3]).mul(0.5) as tf.Tensor1D);
}

/** Split a [N,...] tensor into one Float32Array per image (downloads once). */
export async function perImage(t: tf.Tensor): Promise<Float32Array[]> {
  const data = (await t.data()) as Float32Array;
  const n = t.shape[0];
  const per = data.length / n;
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) out.push(data.slice(i * per, (i + 1) * per));
  return out;
}

/** [-1,1] tensor -> per-image HWC Float32Arrays in [0,1]. */
export async function toUnitImages(t: tf.Tensor4D): Promise<Float32Array[]> {
  const unit = tf.tidy(() => t.add(1).mul(0.5).clipByValue(0, 1));
  try {
    return await perImage(unit);
  } finally {
    unit.dispose();
  }
}
