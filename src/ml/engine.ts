// A scoring engine runs a trained model's inference graph on a batch. Two implementations: tfjs (every
// method, any backend; AnoGAN's per-image latent search needs its gradients) and ONNX Runtime (src/ml/onnx,
// Node only; GANomaly and EGBAD, several times faster). Everything that scores takes an engine, so a model
// scores the same way whichever engine runs it.
import * as tf from '@tensorflow/tfjs';
import type { ImageBatch } from './data';
import type { Detector, ScoreBatch, ScoreOptions } from './models/types';

export type EngineKind = 'tfjs' | 'onnxruntime';

export interface ScoringEngine {
  readonly kind: EngineKind;
  /** One line for logs and the UI, e.g. "onnxruntime 1.30.0 (cpu, 1 thread)". */
  readonly description: string;
  /** Score a batch in inference mode; same contract as Detector.score. */
  score(batch: ImageBatch, opts?: ScoreOptions): Promise<ScoreBatch>;
  dispose(): Promise<void>;
}

/** The tfjs engine: the detector itself on the current tfjs backend. */
export class TfjsEngine implements ScoringEngine {
  readonly kind = 'tfjs' as const;
  readonly description: string;

  constructor(readonly detector: Detector) {
    this.description = `tfjs ${tf.version.tfjs} (${tf.getBackend()})`;
  }

  async score(batch: ImageBatch, opts: ScoreOptions = {}): Promise<ScoreBatch> {
    const x = tf.tensor4d(batch.data, [batch.n, batch.height, batch.width, batch.channels]);
    try {
      return await this.detector.score(x, opts);
    } finally {
      x.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.detector.dispose();
  }
}

/** Maximum absolute difference relative to the reference's largest magnitude (the parity measure). */
export function relativeError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return scale > 0 ? diff / scale : diff;
}
