// A model update (src/main/tasks/update-model.ts) in its own worker thread, so scoring, the watcher and the API
// never wait on it. The station sends 'start' and 'cancel'; the worker reports throttled progress and the
// result. A cancelled update leaves nothing behind (the child's folder is written only at the end, atomically).
import { parentPort } from 'node:worker_threads';
import { selectBackend } from '../../ml';
import { updateModel, type UpdateModelOptions, type UpdateModelResult } from '../tasks/update-model';

export type ToUpdateWorker =
  | {
      type: 'start';
      options: Omit<
        UpdateModelOptions,
        'backend' | 'signal' | 'onProgress' | 'onTrainProgress' | 'onWarning'
      >;
      backend?: string;
    }
  | { type: 'cancel' };

export interface UpdateProgress {
  phase: string;
  done: number;
  total: number;
  epoch: number | null;
  epochs: number | null;
  etaSeconds: number | null;
}

export type FromUpdateWorker =
  | { type: 'progress'; progress: UpdateProgress }
  | { type: 'warning'; text: string }
  | { type: 'done'; result: UpdateModelResult }
  | { type: 'cancelled' }
  | { type: 'failed'; message: string };

if (!parentPort) throw new Error('update-worker must run in a worker thread');
const port = parentPort;
const send = (m: FromUpdateWorker) => port.postMessage(m);
const abort = new AbortController();

port.on('message', (m: ToUpdateWorker) => {
  if (m.type === 'cancel') abort.abort();
  else void run(m);
});

async function run(m: Extract<ToUpdateWorker, { type: 'start' }>): Promise<void> {
  let lastSent = 0;
  let phase = { name: '', at: 0 };
  const emit = (p: UpdateProgress, force = false) => {
    const now = Date.now();
    if (force || now - lastSent > 500) {
      lastSent = now;
      send({ type: 'progress', progress: p });
    }
  };
  try {
    const backend = await selectBackend(m.backend);
    const result = await updateModel({
      ...m.options,
      backend,
      signal: abort.signal,
      onWarning: (text) => send({ type: 'warning', text }),
      onProgress: (p) => {
        if (p.phase !== phase.name) phase = { name: p.phase, at: performance.now() };
        const rate = p.done / Math.max(1e-3, (performance.now() - phase.at) / 1000);
        emit(
          {
            ...p,
            epoch: null,
            epochs: null,
            etaSeconds: p.done > 0 ? (p.total - p.done) / rate : null,
          },
          p.done === p.total,
        );
      },
      onTrainProgress: (p) =>
        emit(
          {
            phase: 'fine-tuning',
            done: p.step,
            total: p.stepsPerEpoch,
            epoch: p.epoch,
            epochs: p.epochs,
            etaSeconds: Number.isFinite(p.etaSeconds) ? p.etaSeconds : null,
          },
          p.kind === 'epoch',
        ),
    });
    send({ type: 'done', result });
  } catch (e) {
    if (abort.signal.aborted) send({ type: 'cancelled' });
    else send({ type: 'failed', message: (e as Error).message });
  }
}
