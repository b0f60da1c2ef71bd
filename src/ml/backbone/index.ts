// Pretrained feature extractors for the feature-based detectors (PatchCore, GANomaly on features). A backbone
// is a CNN trained on natural images, cut after the layers it taps and made fully convolutional (any input
// height and width), so a camera image is judged at its own resolution instead of being squashed to 224 px.
// The weights come from an npm package's bundled files (no download at run time; see src/main/io/backbones.ts
// for where each one is read from) and are then saved inside every model folder that uses them, so a model
// scores the same way whatever the installed package version is. src/ml knows only the tfjs API: the caller
// hands over the package's tfjs artifacts.
import * as tf from '@tensorflow/tfjs';

/** How a backbone wants its pixels. */
export type BackboneNormalisation =
  /** [0, 255] -> [0, 1]. */
  | 'unit'
  /** [0, 1], then ImageNet's per-channel mean and std (torchvision's pretrained models). */
  | 'imagenet'
  /**
   * Each image standardised to mean 0.5, std 0.2 over all its pixels before the network: a camera image's
   * exposure and gain change from lot to lot, and the features should see texture, not brightness.
   */
  | 'standardised';

/** What a backbone is, where it comes from, and which of its layers feed the detectors. */
export interface BackboneSpec {
  /** Stable id stored in a model's config, e.g. 'mobilenet_v2'. */
  id: string;
  /** Layer names tapped, shallowest first; the first sets the feature map's resolution. */
  layers: string[];
  /** Each tapped layer's stride (input pixels per feature cell) and channel count. */
  strides: number[];
  channels: number[];
  normalisation: BackboneNormalisation;
  /** Where the weights come from, their licence, and what they were trained on (shown in the README). */
  provenance: string;
}

/**
 * The default backbone: MobileNetV2 (Sandler et al. 2018) as Keras ships it, ImageNet-trained, from the nsfwjs
 * npm package (MIT, Infinite Red), which fine-tuned its blocks 11 and later on a 5-class image task. Chosen by
 * measurement among the packaged candidates (bench/results/detection.md): fast on two CPU cores, a layers model
 * (so the station's exporter turns it into ONNX), and a clear licence chain (Keras applications' ImageNet
 * weights, Apache-2.0; nsfwjs, MIT). Taps: block_6_expand_relu (stride 8, unchanged ImageNet weights) and
 * block_13_expand_relu (stride 16), the mid-level pair PatchCore recommends (its layer2 + layer3).
 */
export const MOBILENET_V2: BackboneSpec = {
  id: 'mobilenet_v2',
  layers: ['block_6_expand_relu', 'block_13_expand_relu'],
  strides: [8, 16],
  channels: [192, 576],
  normalisation: 'standardised',
  provenance:
    'MobileNetV2 (Keras applications, ImageNet weights, Apache-2.0) as bundled by nsfwjs 4.4 (MIT, Infinite Red; ' +
    'blocks 11+ fine-tuned on its 5-class task); 8-bit quantised weights',
};

export const BACKBONES: readonly BackboneSpec[] = [MOBILENET_V2];

/**
 * The backbone id of a model whose backbone is an engineer's own ONNX file (kept in the model folder as
 * backbone.onnx; its tapped outputs and strides are in the model's config). It runs on ONNX Runtime only.
 */
export const ONNX_BACKBONE = 'onnx';

export function backboneSpec(id: string): BackboneSpec {
  const spec = BACKBONES.find((b) => b.id === id);
  if (!spec) throw new Error(`unknown backbone "${id}"; choose ${BACKBONES.map((b) => b.id).join(', ')}`);
  return spec;
}

interface KerasLayerJson {
  class_name: string;
  name: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes: [string, number, number, unknown][][];
}

/**
 * Cut a Keras functional model (tfjs layers format) after `layers`: keep only what those layers need, make the
 * input shape [null, null, null, C] (fully convolutional), and copy the weights. The result outputs one NHWC
 * feature map per tapped layer, in the order given.
 */
export async function truncateBackbone(
  artifacts: tf.io.ModelArtifacts,
  layers: string[],
  name = 'backbone',
): Promise<tf.LayersModel> {
  const full = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    const topology = structuredClone(artifacts.modelTopology) as {
      model_config?: { config: KerasModelConfig };
      config?: KerasModelConfig;
    };
    const config = topology.model_config?.config ?? topology.config;
    if (!config?.layers) throw new Error('backbone artifacts carry no functional model topology');
    const byName = new Map(config.layers.map((l) => [l.name, l]));
    const keep = new Set<string>();
    const visit = (n: string) => {
      if (keep.has(n)) return;
      const l = byName.get(n);
      if (!l) throw new Error(`backbone has no layer "${n}"`);
      keep.add(n);
      for (const node of l.inbound_nodes) for (const [src] of node) visit(src);
    };
    layers.forEach(visit);
    config.layers = config.layers.filter((l) => keep.has(l.name));
    const input = config.layers.find((l) => l.class_name === 'InputLayer');
    if (!input) throw new Error('backbone has no input layer');
    const shape = input.config.batch_input_shape as (number | null)[];
    input.config.batch_input_shape = [null, null, null, shape[shape.length - 1]];
    config.output_layers = layers.map((l) => [l, 0, 0]);
    config.name = name;
    const cut = await tf.models.modelFromJSON({
      modelTopology: topology as tf.io.ModelJSON['modelTopology'],
    });
    for (const l of cut.layers) {
      const w = full.getLayer(l.name).getWeights();
      if (w.length) l.setWeights(w);
    }
    return cut;
  } finally {
    full.dispose();
  }
}

interface KerasModelConfig {
  name?: string;
  layers: KerasLayerJson[];
  input_layers: unknown;
  output_layers: unknown;
}

/**
 * Station images ([-1, 1] NHWC, 1 or 3 channels) -> the backbone's input: 3 channels, normalised as the spec
 * says. Call inside a tidy.
 */
export function backboneInput(x: tf.Tensor4D, normalisation: BackboneNormalisation): tf.Tensor4D {
  let rgb = x.shape[3] === 1 ? (tf.tile(x, [1, 1, 1, 3]) as tf.Tensor4D) : x;
  rgb = rgb.add(1).mul(0.5) as tf.Tensor4D; // [0, 1]
  if (normalisation === 'unit') return rgb;
  if (normalisation === 'imagenet')
    return rgb.sub(tf.tensor1d(IMAGENET_MEAN)).div(tf.tensor1d(IMAGENET_STD)) as tf.Tensor4D;
  const mean = imageMean(rgb);
  const centred = rgb.sub(mean) as tf.Tensor4D;
  const std = imageMean(centred.square()).sqrt();
  return centred.div(std.add(STANDARDISE_EPS)).mul(0.2).add(0.5) as tf.Tensor4D;
}

/**
 * Per-image mean of [N, H, W, C] as [N, 1, 1, 1], in two stages (rows, then the row means): a float32 sum over a
 * whole camera image in one pass (tfjs-wasm's) drifts by a percent; sums of a few hundred values do not. The
 * ONNX export averages in the same two stages.
 */
function imageMean(x: tf.Tensor4D): tf.Tensor4D {
  return x.mean(2, true).mean([1, 3], true) as tf.Tensor4D;
}

/** ImageNet's per-channel RGB mean and standard deviation, on [0, 1] pixels (torchvision's normalisation). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** Added to an image's pixel standard deviation (in [0, 1] units) so a blank image does not divide by zero. */
export const STANDARDISE_EPS = 1e-3;
