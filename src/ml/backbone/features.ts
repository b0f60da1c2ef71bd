// Locally aware patch features (PatchCore, Roth et al. 2022, section 3.1): each tapped feature map is averaged
// over a 3x3 neighbourhood (so a patch feature describes its surroundings, not one cell), the deeper maps are
// resized to the shallowest tap's resolution, and the maps are concatenated. One row per feature cell.
// The taps come from a tfjs backbone (the bundled one) or from a FeatureSource: an engineer's own backbone as
// an ONNX file, which the Node side runs on ONNX Runtime and hands over as tensors.
import * as tf from '@tensorflow/tfjs';
import { backboneInput, type BackboneNormalisation } from './index';

export interface PatchFeatures {
  /** [h * w, D] row-major over the feature grid. */
  features: tf.Tensor2D;
  /** Feature grid of the first tapped layer. */
  h: number;
  w: number;
}

/**
 * Tapped feature maps of ONE image ([1, H, W, C] station pixels in [-1, 1], not disposed): NHWC tensors, the
 * caller owns them. The source does its own input normalisation.
 */
export type FeatureSource = (x: tf.Tensor4D) => Promise<tf.Tensor4D[]>;

/** The smallest image side the feature methods take: the map blur (sigma 4, radius 12) reflects at borders. */
export const MIN_FEATURE_SIDE = 32;

/**
 * The feature methods' image score is this quantile of the smoothed anomaly map (1 % of the image at least as
 * hot), not its single hottest pixel: chosen on the synthetic demo parts (a development set, never a
 * benchmark's test split), where it ranked at least as well as the maximum at every working scale
 * (bench/results/detection.md).
 */
export const IMAGE_SCORE_QUANTILE = 0.99;

/** Side of the neighbourhood averaged around each feature cell (PatchCore's p = 3). */
export const AGGREGATION = 3;

/** The tapped maps of a tfjs backbone for one image; call inside a tidy. */
export function backboneTaps(
  backbone: tf.LayersModel,
  normalisation: BackboneNormalisation,
  x: tf.Tensor4D,
): tf.Tensor4D[] {
  if (x.shape[0] !== 1) throw new Error(`a backbone takes one image at a time, got ${x.shape[0]}`);
  const out = backbone.apply(backboneInput(x, normalisation), { training: false });
  return (Array.isArray(out) ? out : [out]) as tf.Tensor4D[];
}

/**
 * Tapped maps -> aggregated patch features; call inside a tidy. `channelPool` > 1 averages each run of that
 * many adjacent channels of every tap (PatchCore's adaptive average pooling to a smaller feature size: the
 * nearest-neighbour search costs in proportion to it).
 */
export function aggregate(maps: tf.Tensor4D[], channelPool = 1): PatchFeatures {
  const [, h, w] = maps[0].shape;
  const pooled = maps.map((m, i) => {
    const a = tf.avgPool(m, AGGREGATION, 1, 'same');
    const r = i === 0 ? a : tf.image.resizeBilinear(a, [h, w], false, true);
    if (channelPool <= 1) return r;
    const c = r.shape[3];
    if (c % channelPool) throw new Error(`a tap's ${c} channels do not pool by ${channelPool}`);
    return r.reshape([1, h, w, c / channelPool, channelPool]).mean(4) as tf.Tensor4D;
  });
  const cat = pooled.length === 1 ? pooled[0] : tf.concat(pooled, 3);
  return { features: cat.reshape([h * w, cat.shape[3]]) as tf.Tensor2D, h, w };
}

/** Patch features of ONE image from a tfjs backbone ([1, H, W, C] in [-1, 1]); call inside a tidy. */
export function patchFeatures(
  backbone: tf.LayersModel,
  normalisation: BackboneNormalisation,
  x: tf.Tensor4D,
  channelPool = 1,
): PatchFeatures {
  return aggregate(backboneTaps(backbone, normalisation, x), channelPool);
}
