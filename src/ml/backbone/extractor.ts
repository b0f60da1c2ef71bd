// What every feature method shares: the pretrained backbone (bundled, as a tfjs network; or an engineer's
// ONNX file, as a FeatureSource the Node side runs on ONNX Runtime) and the locally aware patch features of
// one image at a time.
import * as tf from '@tensorflow/tfjs';
import { backboneSpec, ONNX_BACKBONE, type BackboneNormalisation } from './index';
import {
  aggregate,
  backboneTaps,
  MIN_FEATURE_SIDE,
  type FeatureSource,
  type PatchFeatures,
} from './features';

export class FeatureExtractor {
  /** The tfjs backbone; absent when the taps come from an external source (an ONNX backbone). */
  readonly backbone?: tf.LayersModel;
  private readonly source?: FeatureSource;

  constructor(
    method: string,
    backboneId: string,
    private readonly normalisation: BackboneNormalisation,
    nets?: Record<string, tf.LayersModel>,
    source?: FeatureSource,
    private readonly channelPool = 1,
  ) {
    if (backboneId === ONNX_BACKBONE) {
      if (!source)
        throw new Error(`${method} with an ONNX backbone needs it run by ONNX Runtime (a feature source)`);
      this.source = source;
    } else {
      backboneSpec(backboneId);
      if (!nets?.backbone)
        throw new Error(
          `${method} needs its backbone network (${backboneId}): load it from its package (training) or the model folder`,
        );
      this.backbone = nets.backbone;
      // A source beside a bundled backbone: the same weights on a faster engine (fitting); the tfjs copy is
      // what the model saves.
      this.source = source;
    }
  }

  /** Patch features of one image [1, H, W, C] in [-1, 1]; the caller disposes `features`. */
  async features(x: tf.Tensor4D): Promise<PatchFeatures> {
    if (Math.min(x.shape[1], x.shape[2]) < MIN_FEATURE_SIDE)
      throw new Error(
        `image ${x.shape[2]}x${x.shape[1]} is too small: both sides need at least ${MIN_FEATURE_SIDE} px`,
      );
    if (this.backbone && !this.source) {
      const backbone = this.backbone;
      let grid = [0, 0];
      const features = tf.tidy(() => {
        const a = aggregate(backboneTaps(backbone, this.normalisation, x), this.channelPool);
        grid = [a.h, a.w];
        return a.features;
      });
      return { features, h: grid[0], w: grid[1] };
    }
    const maps = await this.source!(x);
    try {
      const [, h, w] = maps[0].shape;
      return { features: tf.tidy(() => aggregate(maps, this.channelPool).features), h, w };
    } finally {
      tf.dispose(maps);
    }
  }

  /** The backbone as a network to save, when it is a tfjs one. */
  networks(): Record<string, tf.LayersModel> {
    return this.backbone ? { backbone: this.backbone } : {};
  }

  dispose(): void {
    this.backbone?.dispose();
  }
}

/**
 * A distance or residual per feature cell -> the image's map: resized to the image (half-pixel bilinear) and
 * blurred (reflected borders); call inside a tidy. Shared by the feature methods so their maps agree.
 */
export function cellsToMap(
  cells: tf.Tensor1D,
  grid: { h: number; w: number },
  image: { height: number; width: number },
  sigma: number,
  blur: (m: tf.Tensor4D, sigma: number) => tf.Tensor4D,
): tf.Tensor4D {
  const g = cells.reshape([1, grid.h, grid.w, 1]) as tf.Tensor4D;
  return blur(tf.image.resizeBilinear(g, [image.height, image.width], false, true), sigma);
}
