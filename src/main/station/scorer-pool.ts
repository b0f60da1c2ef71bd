// One long-lived scoring worker per loaded model. Images waiting for the same model are sent as one batch
// when the worker is free, so a burst is scored in batches while a trickle is scored one by one at once.
import { Worker } from 'node:worker_threads';
import type { ModelMeta } from '../../ml';
import type { InputSpec } from '../../ml/score';
import type { LoadOptions } from '../io/images';
import type { EnginePreference } from './engine-choice';
import type { FromScoringWorker, ToScoringWorker, WorkerImage, WorkerScored } from './scoring-protocol';

export interface ScorerOptions {
  engine: EnginePreference;
  /** Threads for ONNX Runtime inside the worker. Default 1. */
  threads: number;
  /** Largest batch sent to a worker at once. Default 16. */
  maxBatch: number;
  backend?: string;
}

export interface ModelInfo {
  meta: ModelMeta;
  input: InputSpec;
  load: LoadOptions;
  engine: string;
  engineReason: string;
  backend: string;
}

/** The worker is gone (crashed, closed): not the image's fault, so the file is retried, not failed. */
export class ScorerUnavailableError extends Error {
  constructor(readonly reason: Error) {
    super(`scoring worker unavailable: ${reason.message}`);
    this.name = 'ScorerUnavailableError';
  }
}

interface Pending {
  image: WorkerImage;
  resolve: (r: WorkerScored & { ms: number }) => void;
  reject: (e: Error) => void;
}

/** Runs `.ts` sources through tsx in development and tests; the built app ships compiled workers. */
export function workerUrl(name: string): { url: URL; execArgv: string[] } {
  const here = new URL(import.meta.url);
  const ts = here.pathname.endsWith('.ts');
  const url = new URL(`./${name}${ts ? '.ts' : '.js'}`, here);
  return { url, execArgv: ts ? ['--import', import.meta.resolve('tsx')] : [] };
}

export class ModelScorer {
  private readonly worker: Worker;
  private readonly waiting: Pending[] = [];
  private inFlight: Pending[] | undefined;
  private nextId = 1;
  private dead: Error | undefined;
  readonly ready: Promise<ModelInfo>;
  /** Batches sent and images in them (the benchmark reports the mean batch). */
  readonly sent = { batches: 0, images: 0 };

  constructor(
    readonly modelDir: string,
    private readonly opts: ScorerOptions,
  ) {
    const { url, execArgv } = workerUrl('scoring-worker');
    this.worker = new Worker(url, { execArgv, name: `scorer ${modelDir}` });
    this.ready = new Promise<ModelInfo>((resolve, reject) => {
      this.worker.on('message', (m: FromScoringWorker) => {
        if (m.type === 'ready') resolve(m);
        else if (m.type === 'fatal') {
          this.fail(new Error(m.message));
          reject(new Error(m.message));
        } else this.onResult(m);
      });
      this.worker.on('error', (e) => {
        this.fail(e);
        reject(e);
      });
      this.worker.on('exit', (code) => {
        const e = new Error(`scoring worker exited (code ${code})`);
        this.fail(e);
        reject(e);
      });
    });
    this.ready.catch(() => undefined); // observed by callers; keep Node from reporting it twice
    const load: ToScoringWorker = {
      type: 'load',
      modelDir,
      engine: opts.engine,
      threads: opts.threads,
      backend: opts.backend,
    };
    this.worker.postMessage(load);
  }

  /** Score one decoded image; resolves when its batch is done. */
  score(image: WorkerImage): Promise<WorkerScored & { ms: number }> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.waiting.push({ image, resolve, reject });
      void this.ready.then(
        () => this.pump(),
        () => undefined,
      );
    });
  }

  get queued(): number {
    return this.waiting.length + (this.inFlight?.length ?? 0);
  }

  private pump(): void {
    if (this.inFlight || !this.waiting.length || this.dead) return;
    const batch = this.waiting.splice(0, this.opts.maxBatch);
    this.inFlight = batch;
    this.sent.batches += 1;
    this.sent.images += batch.length;
    const msg: ToScoringWorker = { type: 'score', id: this.nextId++, images: batch.map((p) => p.image) };
    this.worker.postMessage(msg);
  }

  private onResult(m: Extract<FromScoringWorker, { type: 'scored' | 'failed' }>): void {
    const batch = this.inFlight ?? [];
    this.inFlight = undefined;
    if (m.type === 'failed') batch.forEach((p) => p.reject(new Error(`scoring failed: ${m.message}`)));
    else batch.forEach((p, i) => p.resolve({ ...m.results[i], ms: m.ms / batch.length }));
    this.pump();
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = new ScorerUnavailableError(e);
    for (const p of [...(this.inFlight ?? []), ...this.waiting.splice(0)]) p.reject(this.dead);
    this.inFlight = undefined;
  }

  /** True once the worker has died or been closed; the pool then starts a fresh one on next use. */
  get isDead(): boolean {
    return this.dead !== undefined;
  }

  async close(): Promise<void> {
    this.dead ??= new ScorerUnavailableError(new Error('scorer closed'));
    await this.worker.terminate();
  }
}

/** Scorers by model folder, started on first use and shared by every line that uses the model. */
export class ScorerPool {
  private readonly scorers = new Map<string, ModelScorer>();

  constructor(private readonly opts: ScorerOptions) {}

  get(modelDir: string): ModelScorer {
    let s = this.scorers.get(modelDir);
    if (!s || s.isDead) {
      s = new ModelScorer(modelDir, this.opts);
      this.scorers.set(modelDir, s);
      // A failed load is not cached: the next use (e.g. after the model folder is fixed) tries again.
      s.ready.catch(() => {
        if (this.scorers.get(modelDir) === s) this.scorers.delete(modelDir);
        void s!.close();
      });
    }
    return s;
  }

  sent(): { batches: number; images: number } {
    const out = { batches: 0, images: 0 };
    for (const s of this.scorers.values()) {
      out.batches += s.sent.batches;
      out.images += s.sent.images;
    }
    return out;
  }

  async release(modelDir: string): Promise<void> {
    const s = this.scorers.get(modelDir);
    this.scorers.delete(modelDir);
    await s?.close();
  }

  async close(): Promise<void> {
    await Promise.all([...this.scorers.values()].map((s) => s.close()));
    this.scorers.clear();
  }
}
