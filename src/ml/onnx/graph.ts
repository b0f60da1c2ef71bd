// The pieces every ONNX export is built from: a tiny GraphBuilder (unique names, initializers, nodes) and a
// converter that walks any tfjs LayersModel from its outputs back through the layers' inbound tensors and emits
// ONNX nodes (inside the graph everything 4-D is NCHW; BatchNormalization is folded into the convolution before
// it). Fully convolutional networks (unknown height and width) export with ONNX's SAME_UPPER padding, which is
// TF's 'same'. Used by export.ts (the GAN methods) and feature-export.ts (backbone + memory bank).
import type * as tf from '@tensorflow/tfjs';
import {
  AttributeType,
  DataType,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';

export const ONNX_OPSET = 17;
/** IR version 8 is the one that goes with opset 17 (ONNX 1.12). */
export const ONNX_IR_VERSION = 8;

/** The name of a value in the graph. 4-D values are NCHW, 2-D values are [N, features]. */
export type Value = string;

export const attr = {
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
export class GraphBuilder {
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

  /** An int64 initializer of any shape (not shared): e.g. a lookup table. */
  int64Tensor(base: string, values: number[], dims: number[]): Value {
    const name = this.unique(base);
    this.initializers.push({ name, dims, dataType: DataType.INT64, int64Data: values });
    return name;
  }

  /** Add a node with several outputs (e.g. TopK's values and indices); fresh names, in order. */
  nodeMulti(opType: string, input: Value[], attribute: AttributeProto[], outputs: number): Value[] {
    const names = Array.from({ length: outputs }, () => this.unique(opType.toLowerCase()));
    this.nodes.push({ name: names[0], opType, input, output: names, attribute });
    return names;
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

const isConv = (l: tf.layers.Layer): boolean =>
  ['Conv2D', 'Conv2DTranspose', 'DepthwiseConv2D'].includes(l.getClassName());

/** [top, left, bottom, right] pads of TF 'same'/'valid' for a forward conv from `inSize` to `outSize`
 * (extra padding goes to the end, as TF does); for 'valid' this is 0 everywhere. */
function tfPads(inSize: number[], outSize: number[], kernel: number[], strides: number[]): number[] {
  const total = [0, 1].map((d) => Math.max((outSize[d] - 1) * strides[d] + kernel[d] - inSize[d], 0));
  const begin = total.map((t) => Math.floor(t / 2));
  return [...begin, ...total.map((t, d) => t - begin[d])];
}

/** Converts tfjs layers to ONNX nodes; weights are added once per layer however often a network runs. */
export class LayerConverter {
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
      case 'DepthwiseConv2D':
        return this.conv(layer, value(input), input.shape, t.shape);
      case 'ZeroPadding2D': {
        // Keras [[top, bottom], [left, right]] -> ONNX NCHW begins then ends.
        const [[top, bottom], [left, right]] = cfg.padding as [[number, number], [number, number]];
        if (cfg.dataFormat !== 'channelsLast')
          throw new Error(`ONNX export: only channels-last padding (${layer.name})`);
        return g.node(
          'Pad',
          [value(input), g.int64s([0, 0, top, left, 0, 0, bottom, right])],
          [attr.str('mode', 'constant')],
        );
      }
      case 'Add':
        return g.node('Sum', t.inputs.map(value));
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
      case 'ReLU': {
        const threshold = (cfg.threshold as number | undefined) ?? 0;
        const slope = (cfg.negativeSlope as number | undefined) ?? 0;
        if (threshold !== 0 || slope !== 0)
          throw new Error(`ONNX export: ReLU with a threshold or negative slope (${layer.name})`);
        // ReLU6 (MobileNet) is a Clip to [0, maxValue].
        if (cfg.maxValue != null)
          return g.node('Clip', [value(input), g.scalar(0), g.scalar(cfg.maxValue as number)]);
        return g.node('Relu', [value(input)]);
      }
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
    const cfg = layer.getConfig() as unknown as ConvConfig & { padding: string; depthMultiplier?: number };
    const transposed = layer.getClassName() === 'Conv2DTranspose';
    const depthwise = layer.getClassName() === 'DepthwiseConv2D';
    if (cfg.dataFormat !== 'channelsLast' || [cfg.dilationRate ?? 1].flat().some((d) => d !== 1)) {
      throw new Error(`ONNX export: only channels-last, undilated convolutions (${layer.name})`);
    }
    const k = cfg.kernelSize;
    const s = cfg.strides;
    const attrs = [attr.ints('kernel_shape', k), attr.ints('strides', s)];
    if (depthwise) attrs.push(attr.int('group', inShape[3]!));
    const dynamic = [inShape[1], inShape[2], outShape[1], outShape[2]].some((d) => d == null);
    if (dynamic) {
      // A fully convolutional network (any input size): TF 'same' is ONNX SAME_UPPER (extra padding at the
      // end), 'valid' is no padding. Transposed convs are only exported at fixed sizes.
      if (transposed) throw new Error(`ONNX export: transposed conv without fixed sizes (${layer.name})`);
      attrs.push(attr.str('auto_pad', cfg.padding === 'same' ? 'SAME_UPPER' : 'VALID'));
    } else {
      const inHW = [inShape[1]!, inShape[2]!];
      const outHW = [outShape[1]!, outShape[2]!];
      // A transposed conv is the gradient of the forward conv from its output size back to its input size,
      // and ONNX ConvTranspose pads mean that forward conv's pads.
      attrs.push(attr.ints('pads', transposed ? tfPads(outHW, inHW, k, s) : tfPads(inHW, outHW, k, s)));
    }
    if (transposed) {
      const inHW = [inShape[1]!, inShape[2]!];
      const outHW = [outShape[1]!, outShape[2]!];
      const pads = tfPads(outHW, inHW, k, s);
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
    const src = kernel.dataSync();
    const [kh, kw] = kernel.shape;
    let [, , a, b] = kernel.shape;
    const w = new Float32Array(src.length);
    if (layer.getClassName() === 'DepthwiseConv2D') {
      // tfjs depthwise kernels are [kh,kw,in,mult]; output channel i*mult+m. ONNX grouped Conv (group = in)
      // wants [in*mult, 1, kh, kw]: the same as a conv with a = 1 input and b = in*mult outputs.
      const [, , cin, mult] = kernel.shape;
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++)
          for (let c = 0; c < cin; c++)
            for (let m = 0; m < mult; m++)
              w[((c * mult + m) * kh + i) * kw + j] = src[((i * kw + j) * cin + c) * mult + m];
      a = 1;
      b = cin * mult;
    } else {
      // permute [kh,kw,a,b] -> [b,a,kh,kw]
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++)
          for (let p = 0; p < a; p++)
            for (let q = 0; q < b; q++)
              w[((q * a + p) * kh + i) * kw + j] = src[((i * kw + j) * a + p) * b + q];
    }
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
export function batchNormAffine(layer: tf.layers.Layer): { scale: Float64Array; shift: Float64Array } {
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

export function tensorInfo(
  name: string,
  dims: (number | string)[],
  elemType: number = DataType.FLOAT,
): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}
