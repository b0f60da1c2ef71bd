// Evaluates a model on a labelled MVTec-layout folder in its own worker thread (the same code as
// `station eval`), so the station keeps scoring its lines while an engineer evaluates a model.
import { parentPort, workerData } from 'node:worker_threads';
import type { Evaluation } from '../../common/api';
import { selectBackend } from '../../ml';
import { loadModel } from '../io/model-store';
import { evaluateModel } from '../tasks/evaluate';
import { chooseEngine, type EnginePreference } from './engine-choice';

export interface EvaluationRequest {
  modelId: number;
  modelName: string;
  modelDir: string;
  data: string;
  maxPerType?: number;
  backend?: string;
  engine: EnginePreference;
  threads: number;
}

export type FromEvaluationWorker =
  { type: 'done'; evaluation: Evaluation } | { type: 'failed'; message: string };

if (!parentPort) throw new Error('evaluation-worker must run in a worker thread');
const port = parentPort;
const req = workerData as EvaluationRequest;

const nullIfNaN = (v: number) => (Number.isFinite(v) ? v : null);

async function run(): Promise<Evaluation> {
  const backend = await selectBackend(req.backend);
  const model = await loadModel(req.modelDir);
  const choice = await chooseEngine(req.modelDir, model, req.engine, req.threads);
  const r = await evaluateModel(model, req.modelName, req.data, {
    backend: backend.name,
    engine: choice.engine,
    maxPerType: req.maxPerType,
  });
  await choice.engine.dispose();
  const row = (x: (typeof r.perType)[number]) => ({
    type: x.type,
    images: x.images,
    auroc: x.auroc,
    auprc: x.auprc,
    f1: x.f1,
    pixelAuroc: nullIfNaN(x.pixelAuroc),
  });
  return {
    modelId: req.modelId,
    data: req.data,
    engine: choice.engine.description,
    threshold: r.threshold,
    overall: row(r.overall),
    perType: r.perType.map(row),
    falseAlarmRate: r.falseAlarmRate,
    imagesPerSecond: r.scoringImagesPerSecond,
    scores: r.scores.map((s) => ({ type: s.type, score: s.score })),
    skipped: r.skipped.length,
  };
}

run().then(
  (evaluation) => port.postMessage({ type: 'done', evaluation } satisfies FromEvaluationWorker),
  (e: Error) => port.postMessage({ type: 'failed', message: e.message } satisfies FromEvaluationWorker),
);
