// Training jobs: each runs trainModel in its own worker thread (so scoring never waits), checkpoints every
// epoch into its model folder, reports live progress, can be cancelled and resumed (also after a restart:
// a job that was running when the station stopped shows as 'interrupted'), and registers the finished
// model with its calibration.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { StationError, type ModelSummary, type Requests, type TrainingJob } from '../../common/api';
import type { StationDatabase, TrainingJobRow } from './database';
import { workerUrl } from './scorer-pool';
import type { FromTrainingWorker, ToTrainingWorker } from './training-worker';

export interface TrainingJobsOptions {
  db: StationDatabase;
  modelsDir: string;
  backend?: string;
  onUpdate: (job: TrainingJob) => void;
  onModel: (folder: string) => Promise<ModelSummary>;
}

export class TrainingJobs {
  private readonly running = new Map<number, Worker>();

  constructor(private readonly o: TrainingJobsOptions) {}

  /** At start-up: jobs the previous run left 'running' were cut off; they can be resumed. */
  markInterrupted(): void {
    this.o.db.markInterruptedJobs();
  }

  list(): TrainingJob[] {
    return this.o.db.listJobs().map(toJob);
  }

  private job(id: number): TrainingJobRow {
    const row = this.o.db.getJob(id);
    if (!row) throw new StationError(`training job ${id} not found`, 'not-found');
    return row;
  }

  start(settings: Requests['startTraining']): TrainingJob {
    const out = join(this.o.modelsDir, settings.name);
    const row = this.o.db.createJob({ settings, dataFolder: settings.data, outputFolder: out });
    this.launch(row.id, settings, out, false);
    return toJob(this.job(row.id));
  }

  resume(id: number): TrainingJob {
    const row = this.job(id);
    if (!['interrupted', 'cancelled'].includes(row.state) || this.running.has(id))
      throw new StationError(
        `job ${id} is ${row.state}; only an interrupted or cancelled job resumes`,
        'refused',
      );
    this.launch(id, row.settings as Requests['startTraining'], row.outputFolder, true);
    return toJob(this.job(id));
  }

  cancel(id: number): TrainingJob {
    const w = this.running.get(id);
    if (!w) throw new StationError(`job ${id} is not running`, 'refused');
    const m: ToTrainingWorker = { type: 'cancel' };
    w.postMessage(m);
    return toJob(this.job(id));
  }

  private launch(id: number, s: Requests['startTraining'], out: string, resume: boolean): void {
    const { url, execArgv } = workerUrl('training-worker');
    const w = new Worker(url, { execArgv, name: `training job ${id}` });
    this.running.set(id, w);
    this.o.db.startJob(id);
    this.o.onUpdate(toJob(this.job(id)));
    const start: ToTrainingWorker = {
      type: 'start',
      backend: this.o.backend,
      options: trainingOptions(s, out, resume),
    };
    let settled = false;
    const finish = async (result: Parameters<StationDatabase['finishJob']>[1]) => {
      if (settled) return;
      settled = true;
      this.running.delete(id);
      this.o.db.finishJob(id, result);
      this.o.onUpdate(toJob(this.job(id)));
      await w.terminate();
    };
    w.on('message', (m: FromTrainingWorker) => {
      if (m.type === 'progress') {
        this.o.db.updateJobProgress(id, m.progress);
        this.o.onUpdate(toJob(this.job(id)));
      } else if (m.type === 'done') {
        this.o
          .onModel(out)
          .then((model) => finish({ state: 'done', modelId: model.id }))
          .catch((e: Error) => finish({ state: 'failed', error: `model registration failed: ${e.message}` }));
      } else if (m.type === 'cancelled') void finish({ state: 'cancelled' });
      else void finish({ state: 'failed', error: m.message });
    });
    w.on('error', (e) => void finish({ state: 'failed', error: e.message }));
    w.on('exit', (code) => void finish({ state: 'failed', error: `training worker exited (code ${code})` }));
    w.postMessage(start);
  }

  /** Station shutdown: running jobs stop where they are; their checkpoints let them resume. */
  async close(): Promise<void> {
    const workers = [...this.running.values()];
    this.running.clear();
    for (const w of workers) w.removeAllListeners();
    await Promise.all(workers.map((w) => w.terminate()));
    this.o.db.markInterruptedJobs();
  }
}

/**
 * What trainModel gets for a training request: the one mapping from the API's settings to the trainer's
 * options (the station's jobs and `station demo` both use it). A resume before the first epoch's checkpoint
 * was written starts over: there is nothing to resume from yet.
 */
export function trainingOptions(
  s: Requests['startTraining'],
  out: string,
  resume: boolean,
): Extract<ToTrainingWorker, { type: 'start' }>['options'] {
  return {
    data: s.data,
    out,
    method: s.method,
    size: s.size,
    channels: s.channels,
    epochs: s.epochs,
    batchSize: s.batchSize,
    holdout: s.holdout,
    patch: s.patch,
    defects: s.defects,
    resume: resume && existsSync(join(out, 'checkpoint', 'checkpoint.json')),
  };
}

function toJob(r: TrainingJobRow): TrainingJob {
  const settings = r.settings as Requests['startTraining'];
  return {
    id: r.id,
    state: r.state,
    name: settings.name,
    settings,
    progress: (r.progress as TrainingJob['progress']) ?? null,
    error: r.error,
    modelId: r.modelId,
    createdAt: r.createdAt,
    finishedAt: r.finishedAt,
  };
}
