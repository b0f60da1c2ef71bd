// A scoring worker thread: loads one model once, then scores batches of decoded images sent by the station.
// Scoring here keeps the station's event loop (watcher, API, SQLite) free while a model runs.
import { parentPort } from 'node:worker_threads';
import { describeBackend, scoreImages, selectBackend, type ScoringEngine } from '../../ml';
import { loadModel, readReference, type LoadedModel } from '../io/model-store';
import sharp from 'sharp';
import { chooseEngine } from './engine-choice';
import type { FromScoringWorker, ToScoringWorker, WorkerScored } from './scoring-protocol';

if (!parentPort) throw new Error('scoring-worker must run in a worker thread');
const port = parentPort;
const send = (m: FromScoringWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let model: LoadedModel | undefined;
let modelDir = '';
let engine: ScoringEngine | undefined;
/** Reference images as PNG, by index: a line shows the same few good parts over and over. */
const references = new Map<number, Uint8Array | undefined>();

async function referencePng(index: number | undefined): Promise<Uint8Array | undefined> {
  if (index === undefined || index < 0) return undefined;
  if (!references.has(index)) {
    const jpeg = await readReference(modelDir, index);
    references.set(
      index,
      jpeg ? new Uint8Array(await sharp(jpeg).png({ compressionLevel: 2 }).toBuffer()) : undefined,
    );
  }
  return references.get(index);
}
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
      modelDir = m.modelDir;
      references.clear();
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
    const results: WorkerScored[] = [];
    for (const s of scored)
      results.push({
        score: s.score,
        map: s.map!,
        width: s.width,
        height: s.height,
        reconstruction: s.reconstruction,
        // A copy: the cached PNG stays here while this one is transferred.
        reference: (await referencePng(s.nearest))?.slice(),
      });
    const transfer = results.flatMap((r) =>
      [r.map, r.reconstruction, r.reference].filter((a) => !!a).map((a) => a!.buffer as ArrayBuffer),
    );
    send({ type: 'scored', id: m.id, results, ms: performance.now() - t0 }, transfer);
  } catch (e) {
    send({ type: 'failed', id: m.id, message: (e as Error).message });
  }
}
