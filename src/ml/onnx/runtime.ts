// The ONNX Runtime scoring engine: runs a model written by exportOnnx (export.ts) with onnxruntime-node and
// returns the same ScoreBatch as the tfjs engine, so callers cannot tell the engines apart; checkParity
// measures that claim on a batch.
import * as ort from 'onnxruntime-node';
import type { ImageBatch } from '../data';
import { relativeError, type ScoringEngine } from '../engine';
import type { ScoreBatch, ScoreOptions } from '../models/types';
import { ONNX_INPUT, ONNX_OUTPUTS } from './export';

export interface OnnxEngineOptions {
  /** Intra-op threads (default 1: the station scores one image at a time beside other work). */
  threads?: number;
  /** ONNX Runtime execution providers, in order of preference (default ['cpu']). */
  executionProviders?: string[];
}

function floats(t: ort.Tensor | undefined, name: string): Float32Array {
  if (!t || t.type !== 'float32') throw new Error(`ONNX model gave no float32 output "${name}"`);
  return t.data as Float32Array;
}

/** Split [N, ...] data into one copy per image. */
function perImage(data: Float32Array, n: number): Float32Array[] {
  const per = data.length / n;
  return Array.from({ length: n }, (_, i) => data.slice(i * per, (i + 1) * per));
}

export class OnnxEngine implements ScoringEngine {
  readonly kind = 'onnxruntime' as const;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly description: string,
  ) {}

  /** Load an exported model (its bytes, or a path to a .onnx file). */
  static async create(model: Uint8Array | string, opts: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const threads = opts.threads ?? 1;
    const providers = opts.executionProviders ?? ['cpu'];
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: providers,
    };
    const session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model, options)
        : await ort.InferenceSession.create(model, options);
    const missing = [ONNX_INPUT, ...ONNX_OUTPUTS].filter(
      (n) => !session.inputNames.includes(n) && !session.outputNames.includes(n),
    );
    if (missing.length) {
      await session.release();
      throw new Error(`not an Anomaly Station ONNX model: it has no ${missing.join(', ')}`);
    }
    const version = ort.env.versions.node ?? ort.env.versions.common;
    const description = `onnxruntime-node ${version} (${providers.join(', ')}, ${threads} thread${threads === 1 ? '' : 's'})`;
    return new OnnxEngine(session, description);
  }

  async score(batch: ImageBatch, opts: ScoreOptions = {}): Promise<ScoreBatch> {
    const { n } = batch;
    const has = (name: string) => this.session.outputNames.includes(name);
    const fetches: string[] = ['score', 'error'];
    if (opts.maps) fetches.push('map');
    if (opts.reconstructions && has('reconstruction')) fetches.push('reconstruction');
    if (has('nearest')) fetches.push('nearest');
    const x = new ort.Tensor('float32', batch.data, [n, batch.height, batch.width, batch.channels]);
    const out = await this.session.run({ [ONNX_INPUT]: x }, fetches);
    try {
      const result: ScoreBatch = {
        scores: floats(out.score, 'score').slice(),
        reconstructionErrors: floats(out.error, 'error').slice(),
      };
      if (opts.maps) result.maps = perImage(floats(out.map, 'map'), n);
      if (out.nearest) result.nearest = Int32Array.from(out.nearest.data as BigInt64Array, (v) => Number(v));
      if (out.reconstruction) {
        // [-1,1] -> [0,1] and clipped, as toUnitImages does on the tfjs side.
        const r = floats(out.reconstruction, 'reconstruction');
        const unit = Float32Array.from(r, (v) => Math.min(1, Math.max(0, (v + 1) * 0.5)));
        result.reconstructions = perImage(unit, n);
      }
      return result;
    } finally {
      x.dispose();
      for (const t of Object.values(out)) t.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Largest relative difference (engine.ts relativeError) allowed between the engines on any output. */
export const PARITY_TOLERANCE = 1e-4;

export interface ParityReport {
  ok: boolean;
  score: number;
  error: number;
  map: number;
  reconstruction: number;
}

function concat(arrays: Float32Array[] | undefined): Float32Array {
  if (!arrays) return new Float32Array(0);
  const out = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

/** Score `batch` on both engines (maps and reconstructions included) and compare every output. */
export async function checkParity(
  onnx: ScoringEngine,
  tfjs: ScoringEngine,
  batch: ImageBatch,
): Promise<ParityReport> {
  const opts = { maps: true, reconstructions: true };
  const a = await onnx.score(batch, opts);
  const ref = await tfjs.score(batch, opts);
  const report = {
    score: relativeError(a.scores, ref.scores),
    error: relativeError(a.reconstructionErrors, ref.reconstructionErrors),
    map: relativeError(concat(a.maps), concat(ref.maps)),
    reconstruction: relativeError(concat(a.reconstructions), concat(ref.reconstructions)),
  };
  // NaN compares false, so a NaN anywhere fails the check.
  const ok = Object.values(report).every((e) => e <= PARITY_TOLERANCE);
  return { ok, ...report };
}
