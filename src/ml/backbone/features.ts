// Locally aware patch features (PatchCore, Roth et al. 2022, section 3.1): each tapped feature map is averaged
// over a 3x3 neighbourhood (so a patch feature describes its surroundings, not one cell), the deeper maps are
// resized to the shallowest tap's resolution, and the maps are concatenated. One row per feature cell.
import * as tf from '@tensorflow/tfjs';
import { backboneInput, type BackboneNormalisation } from './index';

export interface PatchFeatures {
  /** [h * w, D] row-major over the feature grid. */
  features: tf.Tensor2D;
  /** Feature grid of the first tapped layer. */
  h: number;
  w: number;
}

/** Side of the neighbourhood averaged around each feature cell (PatchCore's p = 3). */
export const AGGREGATION = 3;

/** Patch features of ONE image ([1, H, W, C] in [-1, 1]); call inside a tidy. */
export function patchFeatures(
  backbone: tf.LayersModel,
  normalisation: BackboneNormalisation,
  x: tf.Tensor4D,
): PatchFeatures {
  if (x.shape[0] !== 1) throw new Error(`patchFeatures takes one image at a time, got ${x.shape[0]}`);
  const out = backbone.apply(backboneInput(x, normalisation), { training: false });
  const maps = (Array.isArray(out) ? out : [out]) as tf.Tensor4D[];
  const [, h, w] = maps[0].shape;
  const aggregated = maps.map((m, i) => {
    const a = tf.avgPool(m, AGGREGATION, 1, 'same');
    return i === 0 ? a : tf.image.resizeBilinear(a, [h, w], false, true);
  });
  const cat = aggregated.length === 1 ? aggregated[0] : tf.concat(aggregated, 3);
  return { features: cat.reshape([h * w, cat.shape[3]]) as tf.Tensor2D, h, w };
}

/** The smallest image side a backbone accepts: one cell of its deepest tap. */
export function minimumSide(strides: number[]): number {
  return Math.max(...strides);
}
