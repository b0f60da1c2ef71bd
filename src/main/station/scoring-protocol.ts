// Messages between the station and a scoring worker (one worker per loaded model).
import type { ModelMeta } from '../../ml';
import type { InputSpec } from '../../ml/score';
import type { LoadOptions } from '../io/images';
import type { EnginePreference } from './engine-choice';

export interface WorkerImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface WorkerScored {
  score: number;
  /** Residual map at the scored resolution (width*height). */
  map: Float32Array;
  width: number;
  height: number;
  /** Resize mode: [0,1] HWC reconstruction at the network size. */
  reconstruction?: Float32Array;
  /** Memory-bank methods: the nearest good training image, as PNG bytes (any size). */
  reference?: Uint8Array;
}

export type ToScoringWorker =
  | { type: 'load'; modelDir: string; engine: EnginePreference; threads: number; backend?: string }
  | { type: 'score'; id: number; images: WorkerImage[] };

export type FromScoringWorker =
  | {
      type: 'ready';
      meta: ModelMeta;
      input: InputSpec;
      load: LoadOptions;
      engine: string;
      engineReason: string;
      backend: string;
    }
  | { type: 'scored'; id: number; results: WorkerScored[]; ms: number }
  | { type: 'failed'; id: number; message: string }
  | { type: 'fatal'; message: string };
