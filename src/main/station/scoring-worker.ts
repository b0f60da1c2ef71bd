// A scoring worker thread: loads one model once, then scores batches of decoded images sent by the station.
// Scoring here keeps the station's event loop (watcher, API, SQLite) free while a model runs.
import { parentPort } from 'node:worker_threads';
import { describeBackend, scoreImages, selectBackend, type ScoringEngine } from '../../ml';
import { loadModel, type LoadedModel } from '../io/model-store';
import { chooseEngine } from './engine-choice';
import type { FromScoringWorker, ToScoringWorker, WorkerScored } from './scoring-protocol';

if (!parentPort) throw new Error('scoring-worker must run in a worker thread');
const port = parentPort;
const send = (m: FromScoringWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let model: LoadedModel | undefined;
let engine: ScoringEngine | undefined;
// Messages are handled one at a time, in order: a score request never overtakes the load.
let chain: Promise<void> = Promise.resolve();

port.on('message', (m: ToScoringWorker) => {
  chain = chain.then(() => handle(m));
});

async function handle(m: ToScoringWorker): Promise<void> {
  if (m.type === 'load') {
    try {
      const backend = await selectBackend(m.backend);
      model = await loadModel(m.modelDir);
      const choice = await chooseEngine(m.modelDir, model, m.engine, m.threads);
      engine = choice.engine;
      send({
        type: 'ready',
        meta: model.meta,
        input: model.input,
        load: model.load,
        engine: engine.description,
        engineReason: choice.reason,
        backend: describeBackend(backend),
      });
    } catch (e) {
      send({ type: 'fatal', message: (e as Error).message });
    }
    return;
  }
  if (!model || !engine) {
    send({ type: 'failed', id: m.id, message: 'model not loaded' });
    return;
  }
  const t0 = performance.now();
  try {
    const samples = m.images.map((i) => ({ ...i }));
    const scored = await scoreImages(engine, samples, model.input, {
      maps: true,
      reconstructions: model.input.mode === 'resize',
    });
    const results: WorkerScored[] = scored.map((s) => ({
      score: s.score,
      map: s.map!,
      width: s.width,
      height: s.height,
      reconstruction: s.reconstruction,
    }));
    const transfer = results.flatMap((r) =>
      [r.map, r.reconstruction].filter((a): a is Float32Array => !!a).map((a) => a.buffer as ArrayBuffer),
    );
    send({ type: 'scored', id: m.id, results, ms: performance.now() - t0 }, transfer);
  } catch (e) {
    send({ type: 'failed', id: m.id, message: (e as Error).message });
  }
}
