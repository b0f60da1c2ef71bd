// A training job in its own worker thread, so scoring, the watcher and the API never wait on training.
// The station sends 'start' (or 'start' with resume) and 'cancel'; the worker reports throttled progress
// and the finished model's meta. Cancelling keeps the checkpoint, so the job can be resumed later.
import { parentPort } from 'node:worker_threads';
import type { TrainingProgress } from '../../common/api';
import { describeBackend, selectBackend, type ModelMeta } from '../../ml';
import { trainModel, type TrainModelOptions } from '../tasks/train-model';

export type ToTrainingWorker =
  | {
      type: 'start';
      options: Omit<TrainModelOptions, 'backend' | 'signal' | 'onProgress' | 'onPhase'>;
      backend?: string;
    }
  | { type: 'cancel' };

export type FromTrainingWorker =
  | { type: 'progress'; progress: TrainingProgress }
  | { type: 'done'; meta: ModelMeta; backend: string }
  | { type: 'cancelled' }
  | { type: 'failed'; message: string };

if (!parentPort) throw new Error('training-worker must run in a worker thread');
const port = parentPort;
const send = (m: FromTrainingWorker) => port.postMessage(m);
const abort = new AbortController();

port.on('message', (m: ToTrainingWorker) => {
  if (m.type === 'cancel') abort.abort();
  else void run(m);
});

async function run(m: Extract<ToTrainingWorker, { type: 'start' }>): Promise<void> {
  let last: TrainingProgress = {
    phase: 'starting',
    epoch: 0,
    epochs: m.options.epochs,
    step: 0,
    steps: 0,
    losses: {},
    imagesPerSecond: 0,
    etaSeconds: null,
    validationLoss: null,
  };
  let lastSent = 0;
  const emit = (p: Partial<TrainingProgress>, force = false) => {
    last = { ...last, ...p };
    const now = Date.now();
    if (force || now - lastSent > 500) {
      lastSent = now;
      send({ type: 'progress', progress: last });
    }
  };
  try {
    const backend = await selectBackend(m.backend);
    const r = await trainModel({
      ...m.options,
      backend,
      signal: abort.signal,
      onPhase: (phase) => emit({ phase }, true),
      onProgress: (p) =>
        emit(
          {
            phase: 'training',
            epoch: p.epoch,
            epochs: p.epochs,
            step: p.step,
            steps: p.stepsPerEpoch,
            losses: p.losses,
            imagesPerSecond: p.imagesPerSecond,
            etaSeconds: Number.isFinite(p.etaSeconds) ? p.etaSeconds : null,
            validationLoss: p.validationLoss ?? last.validationLoss,
          },
          p.kind === 'epoch',
        ),
    });
    send({ type: 'done', meta: r.meta, backend: describeBackend(backend) });
  } catch (e) {
    if (abort.signal.aborted) send({ type: 'cancelled' });
    else send({ type: 'failed', message: (e as Error).message });
  }
}
