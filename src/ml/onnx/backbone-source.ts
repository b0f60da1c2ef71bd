// An engineer's own backbone as an ONNX file (e.g. torchvision's wide_resnet50_2 exported on a connected
// machine), run by ONNX Runtime: a FeatureSource for fitting and for the tfjs head, and a scoring engine that
// chains it with the exported PatchCore head. The file must take one float image NCHW (any height and width:
// export with dynamic axes) normalised as the model's `normalisation` says, and give the tapped maps (NCHW)
// as named outputs. Node only (onnxruntime-node).
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { backboneInput, type BackboneNormalisation } from '../backbone';
import type { FeatureSource } from '../backbone/features';
import type { ImageBatch } from '../data';
import type { ScoringEngine } from '../engine';
import type { ScoreBatch, ScoreOptions } from '../models/types';

export interface OnnxBackboneOptions {
  /** Output names to tap, shallowest first. */
  outputs: string[];
  normalisation: BackboneNormalisation;
  threads?: number;
}

/** An ONNX backbone session plus what it needs to be fed. */
export class OnnxBackbone {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly input: string,
    readonly outputs: string[],
    readonly normalisation: BackboneNormalisation,
  ) {}

  static async create(bytes: Uint8Array, o: OnnxBackboneOptions): Promise<OnnxBackbone> {
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: o.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const missing = o.outputs.filter((n) => !session.outputNames.includes(n));
    if (!o.outputs.length || missing.length) {
      await session.release();
      throw new Error(
        `the ONNX backbone has no output ${missing.join(', ') || '(none named)'}; it has ${session.outputNames.join(', ')}`,
      );
    }
    if (session.inputNames.length !== 1) {
      await session.release();
      throw new Error(
        `the ONNX backbone must take one image input, it takes ${session.inputNames.length}: ${session.inputNames.join(', ')}`,
      );
    }
    return new OnnxBackbone(session, session.inputNames[0], o.outputs, o.normalisation);
  }

  /** Tapped maps (NCHW, as ONNX Runtime tensors) of station images [1, H, W, C] in [-1, 1]. */
  async run(batch: ImageBatch): Promise<ort.Tensor[]> {
    const x = tf.tensor4d(batch.data, [batch.n, batch.height, batch.width, batch.channels]);
    const nchw = tf.tidy(() => backboneInput(x, this.normalisation).transpose([0, 3, 1, 2]));
    x.dispose();
    const data = (await nchw.data()) as Float32Array;
    const input = new ort.Tensor('float32', data, nchw.shape);
    nchw.dispose();
    try {
      const out = await this.session.run({ [this.input]: input }, this.outputs);
      return this.outputs.map((n) => {
        const t = out[n];
        if (!t || t.type !== 'float32' || t.dims.length !== 4)
          throw new Error(`the ONNX backbone's output ${n} is not a float32 NCHW map`);
        return t;
      });
    } finally {
      input.dispose();
    }
  }

  /** The same taps as tfjs NHWC tensors, for fitting and for the tfjs head. */
  source(): FeatureSource {
    return async (x: tf.Tensor4D) => {
      const [n, height, width, channels] = x.shape;
      const maps = await this.run({ data: (await x.data()) as Float32Array, n, height, width, channels });
      return maps.map(toNhwc);
    };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** An ONNX Runtime NCHW float map as a tfjs NHWC tensor (the ORT tensor is released). */
function toNhwc(t: ort.Tensor): tf.Tensor4D {
  const [b, c, h, w] = t.dims as number[];
  const nchw = tf.tensor4d(t.data as Float32Array, [b, c, h, w]);
  t.dispose();
  const nhwc = nchw.transpose([0, 2, 3, 1]) as tf.Tensor4D;
  nchw.dispose();
  return nhwc;
}

/** Names the exported head gives its tapped-map inputs. */
export const tapInput = (i: number): string => `tap${i}`;

/**
 * The ONNX Runtime engine of a PatchCore model with an ONNX backbone: the backbone's session, then the head
 * (exportOnnx of the model: 3x3 average, nearest bank rows, map), one image at a time.
 */
export class OnnxFeatureEngine implements ScoringEngine {
  readonly kind = 'onnxruntime' as const;
  readonly description: string;

  private constructor(
    private readonly backbone: OnnxBackbone,
    private readonly head: ort.InferenceSession,
    threads: number,
  ) {
    const version = ort.env.versions.node ?? ort.env.versions.common;
    this.description = `onnxruntime-node ${version} (cpu, ${threads} thread${threads === 1 ? '' : 's'}; ONNX backbone + head)`;
  }

  static async create(backbone: OnnxBackbone, head: Uint8Array, threads = 1): Promise<OnnxFeatureEngine> {
    const session = await ort.InferenceSession.create(head, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return new OnnxFeatureEngine(backbone, session, threads);
  }

  async score(batch: ImageBatch, opts: ScoreOptions = {}): Promise<ScoreBatch> {
    const per = batch.height * batch.width * batch.channels;
    const scores = new Float32Array(batch.n);
    const errors = new Float32Array(batch.n);
    const nearest = new Int32Array(batch.n);
    const maps: Float32Array[] = [];
    for (let i = 0; i < batch.n; i++) {
      const one = { ...batch, n: 1, data: batch.data.subarray(i * per, (i + 1) * per) };
      const taps = await this.backbone.run(one);
      const x = new ort.Tensor('float32', one.data, [1, batch.height, batch.width, batch.channels]);
      const feeds: Record<string, ort.Tensor> = { x };
      taps.forEach((t, k) => (feeds[tapInput(k)] = t));
      const hasNearest = this.head.outputNames.includes('nearest');
      const out = await this.head.run(feeds, [
        'score',
        'error',
        ...(hasNearest ? ['nearest'] : []),
        ...(opts.maps ? ['map'] : []),
      ]);
      scores[i] = (out.score.data as Float32Array)[0];
      errors[i] = (out.error.data as Float32Array)[0];
      nearest[i] = hasNearest ? Number((out.nearest.data as BigInt64Array)[0]) : -1;
      if (opts.maps) maps.push((out.map.data as Float32Array).slice());
      for (const t of [x, ...taps, ...Object.values(out)]) t.dispose();
    }
    return {
      scores,
      reconstructionErrors: errors,
      maps: opts.maps ? maps : undefined,
      nearest: this.head.outputNames.includes('nearest') ? nearest : undefined,
    };
  }

  async dispose(): Promise<void> {
    await this.head.release();
    await this.backbone.dispose();
  }
}

/**
 * A bundled backbone exported by exportBackboneTaps (station images in, the tapped maps out), run by ONNX
 * Runtime as a FeatureSource: fitting a feature model extracts its training images' features this way,
 * several times faster than on tfjs-wasm (bench/results/detection.md), and the saved model keeps the tfjs
 * copy of the same weights.
 */
export async function bundledOnnxSource(
  bytes: Uint8Array,
  threads: number,
): Promise<{ source: FeatureSource; dispose: () => Promise<void> }> {
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const source: FeatureSource = async (x) => {
    const input = new ort.Tensor('float32', (await x.data()) as Float32Array, x.shape);
    try {
      const out = await session.run({ x: input });
      return session.outputNames.map((name) => toNhwc(out[name]));
    } finally {
      input.dispose();
    }
  };
  return { source, dispose: () => session.release() };
}
