// The detector factory: one place that knows every method, its defaults and how to build it.
import type * as tf from '@tensorflow/tfjs';
import { METHODS, type Detector, type DetectorConfig, type Method } from './types';
import { Ganomaly, GANOMALY_DEFAULTS } from './ganomaly';
import { GanomalyFusion, GANOMALY_FUSION_DEFAULTS } from './ganomaly-fusion';
import { Egbad, EGBAD_DEFAULTS } from './egbad';
import { Anogan, ANOGAN_DEFAULTS } from './anogan';
import { Patchcore, PATCHCORE_DEFAULTS } from './patchcore';
import { GanomalyFeatures, GANOMALY_FEATURES_DEFAULTS } from './ganomaly-features';
import { checkSize } from './networks';
import type { FeatureSource } from '../backbone/features';

export * from './types';
export { FUSION_COMPONENTS, GanomalyFusion } from './ganomaly-fusion';
export { GanomalyFeatures, GANOMALY_FEATURES_DEFAULTS } from './ganomaly-features';
export {
  DEFAULT_MIN_SIDE,
  DEFAULT_SCALE,
  DEFAULT_WORKING_SIZE,
  Patchcore,
  PATCHCORE_DEFAULTS,
  randomProjection,
} from './patchcore';
export { SUPPORTED_SIZES } from './networks';

/**
 * A method's paper defaults for an input size and channel count, with overrides applied. For the feature
 * methods `size` is the longest side images are judged at (0 = native); for the GAN methods the network input.
 */
export function defaultConfig(
  method: Method,
  size: number,
  channels: 1 | 3,
  overrides: Partial<DetectorConfig> = {},
): DetectorConfig {
  if (method === 'patchcore' || method === 'ganomaly-features') {
    if (!(Number.isInteger(size) && size >= 0))
      throw new Error(`working size must be a whole number of pixels (0 = native), got ${size}`);
    const base = method === 'patchcore' ? PATCHCORE_DEFAULTS : GANOMALY_FEATURES_DEFAULTS;
    return { ...base, size, channels, ...overrides, method } as DetectorConfig;
  }
  checkSize(size);
  // Sigma grows with the image so the heatmap's blur covers the same fraction of the part at every size.
  const common = { size, channels, heatmapSigma: Math.max(1, size / 32) };
  const base =
    method === 'ganomaly-fusion'
      ? { ...GANOMALY_FUSION_DEFAULTS, ...common }
      : method === 'ganomaly'
        ? { ...GANOMALY_DEFAULTS, ...common }
        : method === 'egbad'
          ? { ...EGBAD_DEFAULTS, ...common }
          : method === 'anogan'
            ? { ...ANOGAN_DEFAULTS, ...common }
            : undefined;
  if (!base) throw new Error(`unknown method "${method}"; choose ${METHODS.join(', ')}`);
  return { ...base, ...overrides, method } as DetectorConfig;
}

/**
 * Build a detector; with `nets` (loaded networks) it wraps trained weights instead of fresh ones. The feature
 * methods always need `nets.backbone` (src/ml does not read packages or files), or for an ONNX backbone the
 * `source` that runs it.
 */
export function createDetector(
  config: DetectorConfig,
  nets?: Record<string, tf.LayersModel>,
  source?: FeatureSource,
): Detector {
  switch (config.method) {
    case 'patchcore':
      return new Patchcore(config, nets, source);
    case 'ganomaly-features':
      return new GanomalyFeatures(config, nets, source);
    case 'ganomaly-fusion':
      return new GanomalyFusion(config, nets);
    case 'ganomaly':
      return new Ganomaly(config, nets);
    case 'egbad':
      return new Egbad(config, nets);
    case 'anogan':
      return new Anogan(config, nets);
  }
}
