// A training job in its own worker thread, so scoring, the watcher and the API never wait on training.
// The station sends 'start' (or 'start' with resume) and 'cancel'; the worker reports throttled progress
// and the finished model's meta. Cancelling keeps the checkpoint, so the job can be resumed later.
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import type { TrainingProgress } from '../../common/api';
import { describeBackend, selectBackend, type ModelMeta } from '../../ml';
import type { TrainProgress } from '../../ml/train';
import { trainModel, type TrainModelOptions } from '../tasks/train-model';

export type ToTrainingWorker =
  | {
      type: 'start';
      options: Omit<
        TrainModelOptions,
        'backend' | 'signal' | 'onProgress' | 'onPhase' | 'onWarning' | 'onFitProgress'
      >;
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
    history: [],
    samples: [],
    warnings: [],
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
  // Fitted methods (memory banks): a phase with a count, and a rate and time left per phase.
  let fitStart = { phase: '', at: 0 };
  function fitProgress(p: { phase: string; done: number; total: number }): void {
    if (p.phase !== fitStart.phase) fitStart = { phase: p.phase, at: performance.now() };
    const seconds = (performance.now() - fitStart.at) / 1000;
    const rate = seconds > 0 ? p.done / seconds : 0;
    emit(
      {
        phase: p.phase,
        step: p.done,
        steps: p.total,
        imagesPerSecond: p.phase === 'extracting features' ? rate : last.imagesPerSecond,
        etaSeconds: rate > 0 ? (p.total - p.done) / rate : null,
      },
      p.done === p.total,
    );
  }

  try {
    const backend = await selectBackend(m.backend);
    const r = await trainModel({
      ...m.options,
      backend,
      signal: abort.signal,
      onPhase: (phase) => emit({ phase }, true),
      onWarning: (text) => emit({ warnings: [...(last.warnings ?? []), text] }, true),
      onProgress: (p) => void progress(p),
      onFitProgress: (p) => fitProgress(p),
    });
    send({ type: 'done', meta: r.meta, backend: describeBackend(backend) });
  } catch (e) {
    if (abort.signal.aborted) send({ type: 'cancelled' });
    else send({ type: 'failed', message: (e as Error).message });
  }

  async function progress(p: TrainProgress): Promise<void> {
    if (p.kind === 'epoch') {
      last.history = [
        ...last.history,
        { epoch: p.epoch, losses: p.losses, validationLoss: p.validationLoss ?? null },
      ];
      if (p.samples) last.samples = await samplePngs(p.samples);
    }
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
    );
  }
}

/** Each held-out sample as a PNG data URL: input | reconstruction side by side, for the Train view. */
async function samplePngs(samples: NonNullable<TrainProgress['samples']>): Promise<string[]> {
  return Promise.all(
    samples.map(async ({ input, reconstruction, width, height, channels }) => {
      const pair = Buffer.alloc(width * 2 * height * channels);
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width * channels; x++) {
          const row = y * width * 2 * channels;
          pair[row + x] = Math.round(Math.min(1, Math.max(0, input[y * width * channels + x])) * 255);
          pair[row + width * channels + x] = Math.round(
            Math.min(1, Math.max(0, reconstruction[y * width * channels + x])) * 255,
          );
        }
      const png = await sharp(pair, { raw: { width: width * 2, height, channels: channels as 1 | 3 } })
        .png()
        .toBuffer();
      return `data:image/png;base64,${png.toString('base64')}`;
    }),
  );
}
