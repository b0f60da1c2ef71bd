// Export a fitted PatchCore detector (backbone + memory bank) to one ONNX model that computes what
// Patchcore.score() returns, for one image of any size:
//
//   input  x        [1,H,W,C]  NHWC in [-1,1] (H and W are dynamic: images are judged at their own size)
//   output score    [1]        the smoothed map's maximum
//          error    [1]        the map's mean
//          map      [1,H,W]    nearest-bank distance per feature cell, resized to H x W, Gaussian-smoothed
//          nearest  [1]        int64: the training image most of the patches matched (the reference shown)
//
// Step by step as patchcore.ts / backbone/features.ts: backbone input normalisation, the backbone (converted
// layer by layer by graph.ts, fully convolutional), 3x3 average pooling of each tap (count_include_pad 0,
// as TF's 'same'), deeper taps resized to the first tap's grid (bilinear, half-pixel centres, as
// tf.image.resizeBilinear(..., halfPixelCenters)), then |q|^2 - 2 q.b + |b|^2 against the bank (one MatMul),
// its row minimum, and the map resized and blurred like gaussianBlur (reflected borders).
import type { FeatureInputConfig, GanomalyFeaturesConfig, PatchcoreConfig } from '../models/types';
import type { Patchcore } from '../models/patchcore';
import type { GanomalyFeatures } from '../models/ganomaly-features';
import { IMAGENET_MEAN, IMAGENET_STD, STANDARDISE_EPS } from '../backbone';
import { gaussianTaps } from '../residual';
import {
  attr,
  GraphBuilder,
  LayerConverter,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  tensorInfo,
  type Value,
} from './graph';
import { DataType, encodeModel } from './proto';
import type * as tf from '@tensorflow/tfjs';
import { tapInput } from './backbone-source';

import { IMAGE_SCORE_QUANTILE, MIN_FEATURE_SIDE } from '../backbone/features';

/** Resize NCHW `v` to the spatial size of `like` (NCHW), keeping v's batch and channels. */
function resizeLike(g: GraphBuilder, v: Value, sizes: Value): Value {
  return g.node(
    'Resize',
    [v, '', '', sizes],
    [attr.str('mode', 'linear'), attr.str('coordinate_transformation_mode', 'half_pixel')],
  );
}

/** A feature detector as the exporter sees it: its config, its tfjs backbone (bundled) and its networks. */
type FeatureDetector = Patchcore | GanomalyFeatures;

/**
 * The graph nodes of a feature detector (PatchCore or GANomaly on features); returns nothing, names its
 * outputs. With `externalTaps` (an ONNX backbone, run as its own session before this graph) the tapped maps
 * are graph inputs of those names and only the head is built; otherwise the bundled tfjs backbone is
 * converted into the graph.
 */
export function featureGraph(
  g: GraphBuilder,
  d: FeatureDetector,
  input: string,
  externalTaps?: string[],
): void {
  const config = d.config as FeatureInputConfig & { method: string };
  const { channels, heatmapSigma, normalisation } = config;
  const x = g.node('Transpose', [input], [attr.ints('perm', [0, 3, 1, 2])], 'x_nchw');
  const shape = g.node('Shape', [x]); // [1, C, H, W]
  const taps = externalTaps
    ? (i: number) => externalTaps[i]
    : bundledTaps(
        g,
        d.backbone!,
        channels === 1 ? g.node('Concat', [x, x, x], [attr.int('axis', 1)]) : x,
        normalisation,
      );
  const tapCount = externalTaps ? externalTaps.length : d.backbone!.outputs.length;
  const { rows, grid } = featureRows(g, taps, tapCount, config.channelPool ?? 1);
  const cells =
    config.method === 'patchcore'
      ? patchcoreCells(g, d as Patchcore, rows)
      : ganomalyCells(g, d as GanomalyFeatures, rows);
  mapOutputs(g, cells, grid, shape, heatmapSigma);
}

/** backboneInput + the converted tfjs backbone: returns its tapped maps (NCHW). */
function bundledTaps(
  g: GraphBuilder,
  backbone: tf.LayersModel,
  rgb: Value,
  normalisation: string,
): (i: number) => Value {
  const mean = (v: Value, axes: number[]) =>
    g.node('ReduceMean', [v], [attr.ints('axes', axes), attr.int('keepdims', 1)]);
  // backbone/index.ts imageMean: over each row (NCHW axis 3), then over the row means.
  const imageMean = (v: Value) => mean(mean(v, [3]), [1, 2]);
  let x = rgb;
  // backboneInput: [-1, 1] -> [0, 1], then (standardised) mean 0.5, std 0.2 per image.
  x = g.node('Mul', [g.node('Add', [x, g.scalar(1)]), g.scalar(0.5)]);
  if (normalisation === 'standardised') {
    const centred = g.node('Sub', [x, imageMean(x)]);
    const std = g.node('Sqrt', [imageMean(g.node('Mul', [centred, centred]))]);
    x = g.node('Add', [
      g.node('Mul', [
        g.node('Div', [centred, g.node('Add', [std, g.scalar(STANDARDISE_EPS)])]),
        g.scalar(0.2),
      ]),
      g.scalar(0.5),
    ]);
  }

  if (normalisation === 'imagenet') {
    x = g.node('Div', [
      g.node('Sub', [x, g.floats('imagenet_mean', IMAGENET_MEAN, [1, 3, 1, 1])]),
      g.floats('imagenet_std', IMAGENET_STD, [1, 3, 1, 1]),
    ]);
  }
  return new LayerConverter(g).apply(backbone, [x]);
}

/** Taps -> 3x3 average, resized to the first tap's grid, concatenated -> rows [h*w, D] and the grid [h, w]. */
function featureRows(
  g: GraphBuilder,
  taps: (i: number) => Value,
  tapCount: number,
  channelPool: number,
): { rows: Value; grid: Value } {
  // aggregate()'s channel pooling: [1, C, h, w] -> [1, C/p, p, h, w] -> mean over p.
  const poolChannels = (v: Value) => {
    if (channelPool <= 1) return v;
    const shape = g.node('Shape', [v]);
    const c = g.node('Slice', [shape, g.int64s([1]), g.int64s([2])]);
    const hw = g.node('Slice', [shape, g.int64s([2]), g.int64s([4])]);
    const groups = g.node('Div', [c, g.int64s([channelPool])]);
    const split = g.node(
      'Concat',
      [g.int64s([1]), groups, g.int64s([channelPool]), hw],
      [attr.int('axis', 0)],
    );
    return g.node(
      'ReduceMean',
      [g.node('Reshape', [v, split])],
      [attr.ints('axes', [2]), attr.int('keepdims', 0)],
    );
  };
  const pool = (v: Value) =>
    g.node(
      'AveragePool',
      [v],
      [
        attr.ints('kernel_shape', [3, 3]),
        attr.ints('strides', [1, 1]),
        attr.ints('pads', [1, 1, 1, 1]),
        attr.int('count_include_pad', 0),
      ],
    );
  const first = pool(taps(0));
  const firstShape = g.node('Shape', [first]); // [1, C1, h, w]
  const grid = g.node('Slice', [firstShape, g.int64s([2]), g.int64s([4])]); // [h, w]
  const pooled = [poolChannels(first)];
  for (let i = 1; i < tapCount; i++) {
    const p = pool(taps(i));
    const keep = g.node('Slice', [g.node('Shape', [p]), g.int64s([0]), g.int64s([2])]); // [1, Ci]
    pooled.push(poolChannels(resizeLike(g, p, g.node('Concat', [keep, grid], [attr.int('axis', 0)]))));
  }
  const cat = pooled.length === 1 ? pooled[0] : g.node('Concat', pooled, [attr.int('axis', 1)]);

  const dim = g.node('Slice', [g.node('Shape', [cat]), g.int64s([1]), g.int64s([2])]); // [D]
  const rows = g.node('Reshape', [
    g.node('Transpose', [cat], [attr.ints('perm', [0, 2, 3, 1])]),
    g.node('Concat', [g.int64s([-1]), dim], [attr.int('axis', 0)]),
  ]);
  return { rows, grid };
}

/** PatchCore: each row's distance to its nearest bank row, and (output 'nearest') the reference image. */
function patchcoreCells(g: GraphBuilder, d: Patchcore, rows: Value): Value {
  const config = d.config as PatchcoreConfig;
  if (!config.bankSources) throw new Error('patchcore is not fitted yet: nothing to export');
  // Rows [h*w, D] against the bank: squared distances, nearest row and its distance.
  const bankKernel = d.networks().memory_bank.getWeights()[0]; // [D, n]
  const [dim, n] = bankKernel.shape;
  const kernel = g.floats('memory_bank', bankKernel.dataSync(), [dim, n]);
  const norms = g.floats('memory_bank_norms', squaredColumnNorms(bankKernel.dataSync(), dim, n), [1, n]);
  const sq = g.node('ReduceSum', [g.node('Mul', [rows, rows]), g.int64s([1])], [attr.int('keepdims', 1)]);
  const d2 = g.node('Add', [
    g.node('Sub', [sq, g.node('Mul', [g.node('MatMul', [rows, kernel]), g.scalar(2)])]),
    norms,
  ]);
  const nearestRow = g.node('ArgMin', [d2], [attr.int('axis', 1), attr.int('keepdims', 0)]);
  const dist = g.node('Sqrt', [
    g.node('Relu', [g.node('ReduceMin', [d2], [attr.ints('axes', [1]), attr.int('keepdims', 0)])]),
  ]);

  // The reference image most rows matched: one-hot of each row's source, summed, first maximum.
  const sources = config.bankSources!;
  const images = Math.max(1, config.trainImages ?? Math.max(...sources) + 1);
  const sourceOf = g.int64Tensor('bank_sources', sources, [sources.length]);
  const votes = g.node(
    'ReduceSum',
    [
      g.node('OneHot', [
        g.node('Gather', [sourceOf, nearestRow], [attr.int('axis', 0)]),
        g.int64Tensor('reference_count', [images], []),
        g.floats('one_hot_values', [0, 1], [2]),
      ]),
      g.int64s([0]),
    ],
    [attr.int('keepdims', 0)],
  );
  g.node(
    'ArgMax',
    [g.node('Unsqueeze', [votes, g.int64s([0])])],
    [attr.int('axis', 1), attr.int('keepdims', 0)],
    'nearest',
  );

  return dist;
}

/** GANomaly on features: each row's contextual residual mean |s - G_D(G_E(s))|, s the standardised row. */
function ganomalyCells(g: GraphBuilder, d: GanomalyFeatures, rows: Value): Value {
  const config = d.config as GanomalyFeaturesConfig;
  const nets = d.cellNetworks;
  if (!nets || !config.featureMean || !config.featureStd)
    throw new Error('ganomaly-features is not trained yet: nothing to export');
  const dim = config.featureMean.length;
  const s = g.node('Div', [
    g.node('Sub', [rows, g.floats('feature_mean', config.featureMean, [1, dim])]),
    g.floats('feature_std', config.featureStd, [1, dim]),
  ]);
  const conv = new LayerConverter(g);
  const xHat = conv.apply(nets.decoder_g, [conv.apply(nets.encoder_g, [s])(0)])(0);
  return g.node(
    'ReduceMean',
    [g.node('Abs', [g.node('Sub', [s, xHat])])],
    [attr.ints('axes', [1]), attr.int('keepdims', 0)],
  );
}

/** A value per cell [h*w] -> the map (resized to the image, blurred) and the score and error outputs. */
function mapOutputs(g: GraphBuilder, cells: Value, grid: Value, shape: Value, heatmapSigma: number): void {
  // The map: the distance grid resized to the image (half-pixel bilinear) and blurred with reflected borders.
  const gridMap = g.node('Reshape', [
    cells,
    g.node('Concat', [g.int64s([1, 1]), grid], [attr.int('axis', 0)]),
  ]);
  const imageHW = g.node('Slice', [shape, g.int64s([2]), g.int64s([4])]);
  let map = resizeLike(g, gridMap, g.node('Concat', [g.int64s([1, 1]), imageHW], [attr.int('axis', 0)]));
  if (heatmapSigma > 0) {
    const taps = gaussianTaps(heatmapSigma);
    const r = (taps.length - 1) / 2;
    if (2 * r + 1 > MIN_FEATURE_SIDE)
      throw new Error(`heatmap sigma ${heatmapSigma} is too wide for images of ${MIN_FEATURE_SIDE} px`);
    const padded = g.node('Pad', [map, g.int64s([0, 0, r, r, 0, 0, r, r])], [attr.str('mode', 'reflect')]);
    map = g.node('Conv', [
      g.node('Conv', [padded, g.floats('blur_h', taps, [1, 1, 2 * r + 1, 1])]),
      g.floats('blur_w', taps, [1, 1, 1, 2 * r + 1]),
    ]);
  }
  const flat = g.node('Squeeze', [map, g.int64s([1])], [], 'map'); // [1, H, W]
  imageQuantile(g, flat, IMAGE_SCORE_QUANTILE, 'score');
  g.node('ReduceMean', [flat], [attr.ints('axes', [1, 2]), attr.int('keepdims', 0)], 'error');
}

/** Graph inputs and outputs of a feature model (with the tapped maps as inputs for an ONNX backbone's head). */
export function featureGraphIO(channels: number, externalTaps: string[] = [], withNearest = true) {
  return {
    input: [
      tensorInfo('x', [1, 'H', 'W', channels]),
      ...externalTaps.map((name, i) => tensorInfo(name, [1, `c${i}`, `h${i}`, `w${i}`])),
    ],
    output: [
      tensorInfo('score', [1]),
      tensorInfo('error', [1]),
      tensorInfo('map', [1, 'H', 'W']),
      ...(withNearest ? [tensorInfo('nearest', [1], DataType.INT64)] : []),
    ],
  };
}

function squaredColumnNorms(kernel: ArrayLike<number>, dim: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let k = 0; k < dim; k++)
    for (let j = 0; j < n; j++) {
      const v = kernel[k * n + j];
      out[j] += v * v;
    }
  return out;
}

/**
 * The image score: the map's q-quantile with numpy's linear interpolation, as metrics.quantile computes it
 * (h = (n - 1) q; s[floor h] + frac (s[floor h + 1] - s[floor h]), s ascending), for a map of any size: the
 * top n - floor(h) values by TopK, then the last two of them.
 */
function imageQuantile(g: GraphBuilder, map: Value, q: number, output: string): void {
  const row = g.node('Reshape', [map, g.int64s([1, -1])]); // [1, n]
  const n = g.node('Slice', [g.node('Shape', [row]), g.int64s([1]), g.int64s([2])]); // [1] int64
  const h = g.node('Mul', [
    g.node('Sub', [g.node('Cast', [n], [attr.int('to', DataType.FLOAT)]), g.scalar(1)]),
    g.scalar(q),
  ]);
  const lo = g.node('Floor', [h]);
  const frac = g.node('Sub', [h, lo]);
  const k = g.node('Sub', [n, g.node('Cast', [lo], [attr.int('to', DataType.INT64)])]); // values >= s[lo]
  const [top] = g.nodeMulti(
    'TopK',
    [row, k],
    [attr.int('axis', 1), attr.int('largest', 1), attr.int('sorted', 1)],
    2,
  );
  const at = (i: Value) => g.node('Gather', [top, i], [attr.int('axis', 1)]); // [1, 1]
  const kMinus = (d: number) => g.node('Sub', [k, g.int64s([d])]);
  const vLo = at(kMinus(1));
  const vHi = at(g.node('Max', [kMinus(2), g.int64s([0])]));
  const v = g.node('Add', [vLo, g.node('Mul', [g.node('Sub', [vHi, vLo]), frac])]);
  g.node('Reshape', [v, g.int64s([1])], [], output);
}

/**
 * A bundled backbone alone as an ONNX graph: station images x [1,H,W,C] in [-1,1] -> its input normalisation
 * -> the tapped maps tap0, tap1, ... (NCHW). Fitting a feature model runs this on ONNX Runtime (several times
 * faster than tfjs-wasm); the model's own scoring graph (exportOnnx) contains the same nodes.
 */
export function exportBackboneTaps(
  backbone: tf.LayersModel,
  channels: 1 | 3,
  normalisation: string,
): Uint8Array {
  const g = new GraphBuilder();
  g.unique('x');
  const x = g.node('Transpose', ['x'], [attr.ints('perm', [0, 3, 1, 2])], 'x_nchw');
  const rgb = channels === 1 ? g.node('Concat', [x, x, x], [attr.int('axis', 1)]) : x;
  const taps = bundledTaps(g, backbone, rgb, normalisation);
  const outputs = backbone.outputs.map((_, i) => g.node('Identity', [taps(i)], [], tapInput(i)));
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'anomaly-station',
    producerVersion: '1',
    graph: {
      name: 'backbone',
      node: g.nodes,
      initializer: g.initializers,
      input: [tensorInfo('x', [1, 'H', 'W', channels])],
      output: outputs.map((o, i) => tensorInfo(o, [1, `c${i}`, `h${i}`, `w${i}`])),
    },
    metadataProps: [],
  });
}
