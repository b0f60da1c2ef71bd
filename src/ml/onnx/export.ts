// Export a trained GANomaly or EGBAD detector to one ONNX model (opset 17) that computes everything the
// detector's score() returns, so ONNX Runtime can score without tfjs:
//
//   input  x               [N,H,W,C]  NHWC in [-1,1], as ImageBatch (N is dynamic)
//   output score           [N]        the method's anomaly score
//          error           [N]        mean |x - x_hat| * 0.5 (reconstructionError)
//          map             [N,H,W]    smoothed residual (residualMap: same Gaussian taps, mirrored borders)
//          reconstruction  [N,H,W,C]  x_hat, NHWC in [-1,1]
//
// The graph is built with graph.ts (GraphBuilder, the tfjs-layers converter); the per-method score heads
// here follow ganomaly.ts / egbad.ts score() operation for operation. The feature methods (PatchCore) are
// exported by feature-export.ts. AnoGAN and ganomaly-fusion are not exportable (NOT_EXPORTABLE below says
// why); they score on tfjs.
import type { Detector, DetectorConfig, EgbadConfig, Method } from '../models/types';
import { gaussianTaps } from '../residual';
import { attr, GraphBuilder, LayerConverter, tensorInfo, type Value } from './graph';
import { decodeModel, encodeModel } from './proto';
import { featureGraph, featureGraphIO } from './feature-export';
import type { GanomalyFeatures } from '../models/ganomaly-features';
import { tapInput } from './backbone-source';
import { ONNX_BACKBONE } from '../backbone';
import type { Patchcore } from '../models/patchcore';

import { ONNX_IR_VERSION, ONNX_OPSET } from './graph';
export { ONNX_IR_VERSION, ONNX_OPSET };
/** Bump when the graph's inputs, outputs or semantics change; stored in the model's metadata. */
export const EXPORTER_VERSION = 1;
export const ONNX_INPUT = 'x';
/** Every exported model has these outputs; pixel methods add 'reconstruction', memory-bank methods 'nearest'. */
export const ONNX_OUTPUTS = ['score', 'error', 'map'] as const;

/** The reconstruction and the anomaly score, built from a detector's networks. */
interface Heads {
  xHat: Value;
  /** |x - x_hat|, NCHW. */
  diff: Value;
  score: Value;
}

const absDiff = (g: GraphBuilder, a: Value, b: Value): Value => g.node('Abs', [g.node('Sub', [a, b])]);

/** GANomaly: mean over nz of (G_E(x) - E(G(x)))^2. */
function ganomalyHeads(g: GraphBuilder, conv: LayerConverter, d: Detector, x: Value): Heads {
  const nets = d.networks();
  const latentI = conv.apply(nets.encoder_g, [x])(0);
  const xHat = conv.apply(nets.decoder_g, [latentI])(0);
  const latentO = conv.apply(nets.encoder_e, [xHat])(0);
  const dz = g.node('Sub', [latentI, latentO]);
  const score = g.node(
    'ReduceMean',
    [g.node('Mul', [dz, dz])],
    [attr.ints('axes', [1, 2, 3]), attr.int('keepdims', 0)],
    'score',
  );
  return { xHat, diff: absDiff(g, x, xHat), score };
}

/** EGBAD: alpha * sum|x - x_hat| + (1 - alpha) * L_D, L_D feature matching ('fm') or cross-entropy ('ce'). */
function egbadHeads(g: GraphBuilder, conv: LayerConverter, d: Detector, x: Value): Heads {
  const { alpha, dLoss } = d.config as EgbadConfig;
  const nets = d.networks();
  const zHat = conv.apply(nets.encoder, [x])(0);
  const xHat = conv.apply(nets.generator, [zHat])(0);
  const diff = absDiff(g, x, xHat);
  const sum = (v: Value, axes: number[]) =>
    g.node('ReduceSum', [v, g.int64s(axes)], [attr.int('keepdims', 0)]);
  const lG = sum(diff, [1, 2, 3]);
  const real = conv.apply(nets.discriminator, [x, zHat]);
  let lD: Value;
  if (dLoss === 'ce') {
    // Sigmoid cross-entropy against label 1 is softplus(-logit); logit is [N,1].
    const ce = g.node('Softplus', [g.node('Neg', [real(0)])]);
    lD = g.node('ReduceMean', [ce], [attr.ints('axes', [1]), attr.int('keepdims', 0)]);
  } else {
    const fake = conv.apply(nets.discriminator, [xHat, zHat]);
    lD = sum(absDiff(g, real(1), fake(1)), [1]);
  }
  const score = g.node(
    'Add',
    [g.node('Mul', [lG, g.scalar(alpha)]), g.node('Mul', [lD, g.scalar(1 - alpha)])],
    [],
    'score',
  );
  return { xHat, diff, score };
}

/** error, map and reconstruction, as residual.ts computes them. */
function residualOutputs(g: GraphBuilder, h: Heads, config: DetectorConfig): void {
  const { size, heatmapSigma } = config;
  const mean = (v: Value, axes: number[], keepdims: 0 | 1) =>
    g.node('ReduceMean', [v], [attr.ints('axes', axes), attr.int('keepdims', keepdims)]);
  g.node('Mul', [mean(h.diff, [1, 2, 3], 0), g.scalar(0.5)], [], 'error');

  let map = g.node('Mul', [mean(h.diff, [1], 1), g.scalar(0.5)]); // [N,1,H,W]
  if (heatmapSigma > 0) {
    // Separable blur with mirrored borders; the radius is clamped so mirroring stays inside the map.
    const taps = gaussianTaps(heatmapSigma);
    const radius = (taps.length - 1) / 2;
    const r = Math.min(radius, size - 1);
    const kernel = taps.slice(radius - r, radius + r + 1);
    const padded = g.node('Pad', [map, g.int64s([0, 0, r, r, 0, 0, r, r])], [attr.str('mode', 'reflect')]);
    const kH = g.floats('blur_h', kernel, [1, 1, 2 * r + 1, 1]);
    const kW = g.floats('blur_w', kernel, [1, 1, 1, 2 * r + 1]);
    map = g.node('Conv', [g.node('Conv', [padded, kH]), kW]);
  }
  g.node('Squeeze', [map, g.int64s([1])], [], 'map');
  g.node('Transpose', [h.xHat], [attr.ints('perm', [0, 2, 3, 1])], 'reconstruction');
}

/** The methods whose score is not a feed-forward graph this exporter writes, and why (they score on tfjs). */
const NOT_EXPORTABLE: Partial<Record<Method, { name: string; why: string }>> = {
  anogan: {
    name: 'AnoGAN',
    why: 'its score is a per-image latent search by gradient descent, which needs gradients',
  },
  'ganomaly-fusion': {
    name: 'ganomaly-fusion',
    why: 'its nearest-neighbour scores (top-k over its memory banks) are not in the exported graph',
  },
};

/** Why `method` has no ONNX form, or undefined when it has one (GANomaly, EGBAD). */
export function whyNotOnnx(method: Method): { name: string; why: string } | undefined {
  return NOT_EXPORTABLE[method];
}

export function onnxExportable(method: Method): boolean {
  return !whyNotOnnx(method);
}

/** Serialise a GANomaly, EGBAD or PatchCore detector (inference mode) as an ONNX model; see the top of this file. */
export function exportOnnx(detector: Detector): Uint8Array {
  const { config } = detector;
  const not = whyNotOnnx(config.method);
  if (not)
    throw new Error(`${not.name} cannot be exported to ONNX: ${not.why}; score it with the tfjs engine`);
  const { size, channels } = config;
  const g = new GraphBuilder();
  g.unique(ONNX_INPUT);
  let io;
  if (config.method === 'patchcore' || config.method === 'ganomaly-features') {
    // An ONNX backbone runs as its own session (OnnxFeatureEngine): this graph is then the head alone, fed
    // the backbone's tapped maps.
    const taps = config.backbone === ONNX_BACKBONE ? config.layers.map((_, i) => tapInput(i)) : undefined;
    taps?.forEach((t) => g.unique(t));
    featureGraph(g, detector as Patchcore | GanomalyFeatures, ONNX_INPUT, taps);
    io = featureGraphIO(channels, taps, config.method === 'patchcore');
  } else {
    const x = g.node('Transpose', [ONNX_INPUT], [attr.ints('perm', [0, 3, 1, 2])], 'x_nchw');
    const conv = new LayerConverter(g);
    const heads =
      config.method === 'ganomaly' ? ganomalyHeads(g, conv, detector, x) : egbadHeads(g, conv, detector, x);
    residualOutputs(g, heads, config);
    io = {
      input: [tensorInfo(ONNX_INPUT, ['N', size, size, channels])],
      output: [
        tensorInfo('score', ['N']),
        tensorInfo('error', ['N']),
        tensorInfo('map', ['N', size, size]),
        tensorInfo('reconstruction', ['N', size, size, channels]),
      ],
    };
  }

  const meta: Record<string, string> = {
    method: config.method,
    size: String(size),
    channels: String(channels),
    exporter: 'anomaly-station',
    exporter_version: String(EXPORTER_VERSION),
    config: JSON.stringify(config),
  };
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'anomaly-station',
    producerVersion: String(EXPORTER_VERSION),
    graph: {
      name: config.method,
      node: g.nodes,
      initializer: g.initializers,
      ...io,
    },
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
}

/** The metadata an exported model carries (method, size, channels, exporter_version, config). */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));
}
