// Export a trained GANomaly or EGBAD detector to one ONNX model (opset 17) that computes everything the
// detector's score() returns, so ONNX Runtime can score without tfjs:
//
//   input  x               [N,H,W,C]  NHWC in [-1,1], as ImageBatch (N is dynamic)
//   output score           [N]        the method's anomaly score
//          error           [N]        mean |x - x_hat| * 0.5 (reconstructionError)
//          map             [N,H,W]    smoothed residual (residualMap: same Gaussian taps, mirrored borders)
//          reconstruction  [N,H,W,C]  x_hat, NHWC in [-1,1]
//
// Three parts: a tiny GraphBuilder (unique names, initializers, nodes), a converter that walks any tfjs
// LayersModel from its outputs back through the layers' inbound tensors and emits ONNX nodes (inside the
// graph everything 4-D is NCHW; BatchNormalization is folded into the convolution before it), and the
// per-method score heads, which follow ganomaly.ts / egbad.ts score() operation for operation.
// AnoGAN and ganomaly-fusion are not exportable (NOT_EXPORTABLE below says why); they score on tfjs.
import type * as tf from '@tensorflow/tfjs';
import type { Detector, DetectorConfig, EgbadConfig, Method } from '../models/types';
import { gaussianTaps } from '../residual';
import {
  AttributeType,
  DataType,
  decodeModel,
  encodeModel,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';

export const ONNX_OPSET = 17;
/** IR version 8 is the one that goes with opset 17 (ONNX 1.12). */
export const ONNX_IR_VERSION = 8;
/** Bump when the graph's inputs, outputs or semantics change; stored in the model's metadata. */
export const EXPORTER_VERSION = 1;
export const ONNX_INPUT = 'x';
export const ONNX_OUTPUTS = ['score', 'error', 'map', 'reconstruction'] as const;

/** The name of a value in the graph. 4-D values are NCHW, 2-D values are [N, features]. */
type Value = string;

const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f }),
  str: (name: string, s: string): AttributeProto => ({
    name,
    type: AttributeType.STRING,
    s: new TextEncoder().encode(s),
  }),
};

/** Collects nodes and initializers and hands out unique value names. */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, Value>();

  /** `base`, or `base_1`, `base_2`... if taken. */
  unique(base: string): Value {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** A float32 initializer (a copy of `data`). */
  floats(base: string, data: ArrayLike<number>, dims: number[]): Value {
    const name = this.unique(base);
    const copy = Float32Array.from(data);
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(copy.buffer) });
    return name;
  }

  /** A float32 scalar constant, shared by every node that uses the same value. */
  scalar(v: number): Value {
    const key = `f${v}`;
    let name = this.constants.get(key);
    if (!name) this.constants.set(key, (name = this.floats('const', Float32Array.of(v), [])));
    return name;
  }

  /** A 1-D int64 constant (axes, pads), shared like scalar(). */
  int64s(values: number[]): Value {
    const key = `i${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.unique('const_i64');
      this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, int64Data: values });
      this.constants.set(key, name);
    }
    return name;
  }

  /** Add a node with one output; `output` names it exactly (graph outputs), else a fresh name. */
  node(opType: string, input: Value[], attribute: AttributeProto[] = [], output?: string): Value {
    const out = this.unique(output ?? opType.toLowerCase());
    if (output && out !== output) throw new Error(`ONNX export: value name "${output}" is taken`);
    this.nodes.push({ name: out, opType, input, output: [out], attribute });
    return out;
  }
}

interface ConvConfig {
  kernelSize: number[];
  strides: number[];
  dataFormat: string;
  dilationRate?: number | number[];
  activation: string;
}

interface BatchNormConfig {
  axis: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
}

const isConv = (l: tf.layers.Layer): boolean => ['Conv2D', 'Conv2DTranspose'].includes(l.getClassName());

/** [top, left, bottom, right] pads of TF 'same'/'valid' for a forward conv from `inSize` to `outSize`
 * (extra padding goes to the end, as TF does); for 'valid' this is 0 everywhere. */
function tfPads(inSize: number[], outSize: number[], kernel: number[], strides: number[]): number[] {
  const total = [0, 1].map((d) => Math.max((outSize[d] - 1) * strides[d] + kernel[d] - inSize[d], 0));
  const begin = total.map((t) => Math.floor(t / 2));
  return [...begin, ...total.map((t, d) => t - begin[d])];
}

/** Converts tfjs layers to ONNX nodes; weights are added once per layer however often a network runs. */
class LayerConverter {
  private readonly convWeights = new Map<tf.layers.Layer, Value[]>();
  private readonly otherWeights = new Map<tf.layers.Layer, Value[]>();

  constructor(private readonly g: GraphBuilder) {}

  /**
   * Emit `model` applied to `inputs` (one per model input) and return its outputs. Nodes are emitted
   * on demand, walking back from the outputs asked for, so unused outputs (a discriminator's logit
   * when only its features are scored) cost nothing.
   */
  apply(model: tf.LayersModel, inputs: Value[]): (output: number) => Value {
    if (inputs.length !== model.inputs.length) {
      throw new Error(`ONNX export: ${model.name} takes ${model.inputs.length} inputs, got ${inputs.length}`);
    }
    const values = new Map<number, Value>(model.inputs.map((t, i) => [t.id, inputs[i]]));
    const value = (t: tf.SymbolicTensor): Value => {
      let v = values.get(t.id);
      if (v === undefined) {
        v = this.layer(t, value);
        values.set(t.id, v);
      }
      return v;
    };
    return (i) => value(model.outputs[i]);
  }

  /** The nodes computing `t` from its layer's inputs. */
  private layer(t: tf.SymbolicTensor, value: (t: tf.SymbolicTensor) => Value): Value {
    const layer = t.sourceLayer;
    const [input] = t.inputs;
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    const g = this.g;
    switch (cls) {
      case 'Conv2D':
      case 'Conv2DTranspose':
        return this.conv(layer, value(input), input.shape, t.shape);
      case 'BatchNormalization': {
        const src = input.sourceLayer;
        if (isConv(src) && (src.getConfig() as unknown as ConvConfig).activation === 'linear') {
          const convIn = input.inputs[0];
          return this.conv(src, value(convIn), convIn.shape, input.shape, layer);
        }
        return this.batchNorm(layer, value(input), t.rank);
      }
      case 'LeakyReLU':
        return g.node('LeakyRelu', [value(input)], [attr.float('alpha', cfg.alpha as number)]);
      case 'ReLU':
        if (cfg.maxValue != null) throw new Error(`ONNX export: ReLU with maxValue (${layer.name})`);
        return g.node('Relu', [value(input)]);
      case 'Activation':
        return this.activation(cfg.activation as string, value(input), layer.name);
      case 'Flatten':
        // tfjs flattens NHWC order: back to NHWC first.
        if (input.rank === 2) return value(input);
        if (input.rank !== 4)
          throw new Error(`ONNX export: Flatten of a rank-${input.rank} input (${layer.name})`);
        return g.node(
          'Flatten',
          [g.node('Transpose', [value(input)], [attr.ints('perm', [0, 2, 3, 1])])],
          [attr.int('axis', 1)],
        );
      case 'Dense': {
        if (input.rank !== 2)
          throw new Error(`ONNX export: Dense on a rank-${input.rank} input (${layer.name})`);
        const [kernel, bias] = this.weights(layer);
        const out = g.node('Gemm', bias ? [value(input), kernel, bias] : [value(input), kernel]);
        return this.activation(cfg.activation as string, out, layer.name);
      }
      case 'Concatenate': {
        const rank = t.rank;
        const axis = (cfg.axis as number) < 0 ? (cfg.axis as number) + rank : (cfg.axis as number);
        const onnxAxis = rank === 4 ? [0, 2, 3, 1][axis] : axis; // NHWC axis -> NCHW axis
        return g.node('Concat', t.inputs.map(value), [attr.int('axis', onnxAxis)]);
      }
      default:
        throw new Error(`ONNX export: unsupported layer ${cls} (${layer.name})`);
    }
  }

  private activation(name: string, x: Value, layerName: string): Value {
    const ops: Record<string, string | null> = {
      linear: null,
      relu: 'Relu',
      tanh: 'Tanh',
      sigmoid: 'Sigmoid',
    };
    const op = ops[name];
    if (op === undefined) throw new Error(`ONNX export: unsupported activation ${name} (${layerName})`);
    return op ? this.g.node(op, [x]) : x;
  }

  /** Conv2D -> Conv, Conv2DTranspose -> ConvTranspose, with a following BatchNormalization folded in. */
  private conv(
    layer: tf.layers.Layer,
    x: Value,
    inShape: tf.Shape,
    outShape: tf.Shape,
    bn?: tf.layers.Layer,
  ): Value {
    const cfg = layer.getConfig() as unknown as ConvConfig;
    const transposed = layer.getClassName() === 'Conv2DTranspose';
    if (cfg.dataFormat !== 'channelsLast' || [cfg.dilationRate ?? 1].flat().some((d) => d !== 1)) {
      throw new Error(`ONNX export: only channels-last, undilated convolutions (${layer.name})`);
    }
    const k = cfg.kernelSize;
    const s = cfg.strides;
    const inHW = [inShape[1]!, inShape[2]!];
    const outHW = [outShape[1]!, outShape[2]!];
    // A transposed conv is the gradient of the forward conv from its output size back to its input size,
    // and ONNX ConvTranspose pads mean that forward conv's pads.
    const pads = transposed ? tfPads(outHW, inHW, k, s) : tfPads(inHW, outHW, k, s);
    const attrs = [attr.ints('kernel_shape', k), attr.ints('strides', s), attr.ints('pads', pads)];
    if (transposed) {
      // Output size = s*(in-1) + k - pads (+ output_padding); TF 'same' can need the extra row/column.
      const extra = [0, 1].map((d) => outHW[d] - (s[d] * (inHW[d] - 1) + k[d] - pads[d] - pads[d + 2]));
      if (extra.some((e, d) => e < 0 || e >= s[d]))
        throw new Error(`ONNX export: odd geometry (${layer.name})`);
      if (extra.some((e) => e > 0)) attrs.push(attr.ints('output_padding', extra));
    }
    const out = this.g.node(transposed ? 'ConvTranspose' : 'Conv', [x, ...this.foldedConv(layer, bn)], attrs);
    return bn ? out : this.activation(cfg.activation, out, layer.name);
  }

  /**
   * ONNX weight (and bias) of a conv: tfjs Conv2D kernels are [kh,kw,in,out] and ONNX Conv wants
   * [out,in,kh,kw]; tfjs Conv2DTranspose kernels are [kh,kw,out,in] and ONNX ConvTranspose wants
   * [in,out,kh,kw]: the same permutation [3,2,0,1] for both. A BatchNormalization y = scale*x + shift
   * after it scales each output channel's weights and becomes the bias.
   */
  private foldedConv(layer: tf.layers.Layer, bn?: tf.layers.Layer): Value[] {
    const cached = this.convWeights.get(layer);
    if (cached) return cached;
    const [kernel, bias] = layer.getWeights();
    const [kh, kw, a, b] = kernel.shape;
    const src = kernel.dataSync();
    const w = new Float32Array(src.length);
    // permute [kh,kw,a,b] -> [b,a,kh,kw]
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++)
        for (let p = 0; p < a; p++)
          for (let q = 0; q < b; q++)
            w[((q * a + p) * kh + i) * kw + j] = src[((i * kw + j) * a + p) * b + q];
    const transposed = layer.getClassName() === 'Conv2DTranspose';
    const outChannels = transposed ? a : b;
    const b0 = bias ? bias.dataSync() : new Float32Array(outChannels);
    let names: Value[];
    if (bn) {
      const { scale, shift } = batchNormAffine(bn);
      const perOut = kh * kw; // consecutive weights per (first axis, second axis) pair
      for (let r = 0; r < b; r++)
        for (let c = 0; c < a; c++) {
          const ch = transposed ? c : r; // ONNX layout [b,a,kh,kw]: Conv's out is b, ConvTranspose's is a
          const off = (r * a + c) * perOut;
          for (let e = 0; e < perOut; e++) w[off + e] *= scale[ch];
        }
      const fused = Float32Array.from(shift, (sh, c) => sh + b0[c] * scale[c]);
      names = [
        this.g.floats(`${layer.name}_w`, w, [b, a, kh, kw]),
        this.g.floats(`${bn.name}_b`, fused, [outChannels]),
      ];
    } else {
      names = [this.g.floats(`${layer.name}_w`, w, [b, a, kh, kw])];
      if (bias) names.push(this.g.floats(`${layer.name}_b`, b0, [outChannels]));
    }
    this.convWeights.set(layer, names);
    return names;
  }

  /** A BatchNormalization that does not follow a conv: y = scale * x + shift on the channel axis. */
  private batchNorm(layer: tf.layers.Layer, x: Value, rank: number): Value {
    const cfg = layer.getConfig() as unknown as BatchNormConfig;
    if (cfg.axis !== -1 && cfg.axis !== rank - 1)
      throw new Error(`ONNX export: BatchNorm axis (${layer.name})`);
    let names = this.otherWeights.get(layer);
    if (!names) {
      const { scale, shift } = batchNormAffine(layer);
      const dims = rank === 4 ? [scale.length, 1, 1] : [scale.length]; // broadcasts over NCHW / [N,C]
      names = [
        this.g.floats(`${layer.name}_scale`, scale, dims),
        this.g.floats(`${layer.name}_shift`, shift, dims),
      ];
      this.otherWeights.set(layer, names);
    }
    return this.g.node('Add', [this.g.node('Mul', [x, names[0]]), names[1]]);
  }

  /** Dense kernel [in, units] is Gemm's B as it is; bias is C. */
  private weights(layer: tf.layers.Layer): Value[] {
    let names = this.otherWeights.get(layer);
    if (!names) {
      names = layer
        .getWeights()
        .map((w, i) => this.g.floats(`${layer.name}_${['w', 'b'][i]}`, w.dataSync(), w.shape));
      this.otherWeights.set(layer, names);
    }
    return names;
  }
}

/** Inference-mode BatchNormalization as y = scale * x + shift, per channel (computed in float64). */
function batchNormAffine(layer: tf.layers.Layer): { scale: Float64Array; shift: Float64Array } {
  const cfg = layer.getConfig() as unknown as BatchNormConfig;
  // tfjs creates them in this order: gamma (if scale), beta (if center), moving mean, moving variance.
  const w = layer.getWeights().map((t) => t.dataSync());
  const gamma = cfg.scale ? w[0] : undefined;
  const beta = cfg.center ? w[cfg.scale ? 1 : 0] : undefined;
  const [mean, variance] = w.slice(-2);
  const scale = Float64Array.from(variance, (v, c) => (gamma ? gamma[c] : 1) / Math.sqrt(v + cfg.epsilon));
  const shift = Float64Array.from(mean, (m, c) => (beta ? beta[c] : 0) - m * scale[c]);
  return { scale, shift };
}

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

function tensorInfo(name: string, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
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

/** Serialise a GANomaly or EGBAD detector (inference mode) as an ONNX model; see the top of this file. */
export function exportOnnx(detector: Detector): Uint8Array {
  const { config } = detector;
  const not = whyNotOnnx(config.method);
  if (not)
    throw new Error(`${not.name} cannot be exported to ONNX: ${not.why}; score it with the tfjs engine`);
  const { size, channels } = config;
  const g = new GraphBuilder();
  g.unique(ONNX_INPUT);
  const x = g.node('Transpose', [ONNX_INPUT], [attr.ints('perm', [0, 3, 1, 2])], 'x_nchw');
  const conv = new LayerConverter(g);
  const heads =
    config.method === 'ganomaly' ? ganomalyHeads(g, conv, detector, x) : egbadHeads(g, conv, detector, x);
  residualOutputs(g, heads, config);

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
      input: [tensorInfo(ONNX_INPUT, ['N', size, size, channels])],
      output: [
        tensorInfo('score', ['N']),
        tensorInfo('error', ['N']),
        tensorInfo('map', ['N', size, size]),
        tensorInfo('reconstruction', ['N', size, size, channels]),
      ],
    },
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
}

/** The metadata an exported model carries (method, size, channels, exporter_version, config). */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));
}
