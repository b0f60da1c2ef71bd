// The demo model: what a first `npm start` trains on the demo parts (synthetic machined-metal surfaces with
// scratches, spots and dents, made once in the data dir by src/main/tasks/demo-parts.ts; no third-party data)
// so the station has something real to judge. DEMO_MODEL is the one place its method, size and options are
// chosen. `station start` and the Electron app train it as a station training job (demo-station.ts);
// `station demo` trains it here in-process (once, then reused), evaluates it on the sample's labelled test
// split and writes heatmaps of a few test images.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackendStatus } from '../../ml';
import type { Requests } from '../../common/api';
import { loadModel } from '../io/model-store';
import { chooseEngine } from '../station/engine-choice';
import { trainingOptions } from '../station/training-jobs';
import { evaluateModel } from '../tasks/evaluate';
import { trainModel } from '../tasks/train-model';
import { formatEvalTable } from './format';
import { Progress } from './progress';
import { runScore } from './score-command';
import { mvtecTestSet } from '../io/datasets';
import { writeDemoParts } from '../tasks/demo-parts';
import { DEFAULT_WORKING_SIZE } from '../../ml';

/** Where the demo parts are made (once) in a data dir. */
export const demoData = (dataDir: string): string => join(resolve(dataDir), 'demo-parts');

/** The demo parts, made now if the data dir has none yet (a few seconds); their folder. */
export function ensureDemoData(dataDir: string): Promise<string> {
  return writeDemoParts(demoData(dataDir));
}

export interface DemoModel {
  /** The model's folder name under the data dir's models/ (and its training job's name). A different
   * choice of method or options needs a new name, or the model trained earlier is reused. */
  name: string;
  /** For the console, e.g. "a GANomaly on 32 px patches of the 256 px PCB scans". */
  description: string;
  /** The training job's settings (its data folder is the sample). */
  training: Omit<Requests['startTraining'], 'name' | 'data' | 'forLine'>;
  /** The demo line's threshold: this quantile of the model's held-out good scores; null: the model's
   * calibrated threshold. */
  lineThresholdQuantile: number | null;
}

/**
 * The demo model: the station's recommended default, PatchCore on the bundled MobileNetV2's features, at its
 * default working size, on the demo parts. It fits in seconds and its heatmaps sit on the scratches, spots and
 * dents (bench: image AUROC and pixel AUROC of `station demo`), so the demo line judges at the model's own
 * calibrated threshold.
 */
export const DEMO_MODEL: DemoModel = {
  name: 'demo-patchcore-parts',
  description: 'a PatchCore on MobileNetV2 features of the synthetic machined-metal parts',
  training: {
    method: 'patchcore',
    size: DEFAULT_WORKING_SIZE,
    channels: 1,
    epochs: 1,
  },
  lineThresholdQuantile: null,
};

/** `station demo`: train the demo model in this process unless it is there already; its folder. */
export async function ensureDemoModel(
  backend: BackendStatus,
  dataDir: string,
  demo: DemoModel = DEMO_MODEL,
  dataFolder?: string,
): Promise<string> {
  const modelDir = join(dataDir, 'models', demo.name);
  const data = dataFolder ?? (await ensureDemoData(dataDir));
  const progress = new Progress();
  if (existsSync(join(modelDir, 'meta.json'))) {
    console.log(`using the demo model trained earlier: ${modelDir}`);
    return modelDir;
  }
  console.log(`training the demo model (${demo.description}) on ${data} -> ${modelDir}`);
  const r = await trainModel({
    ...trainingOptions({ ...demo.training, name: demo.name, data }, modelDir, true),
    backend,
    onPhase: (p, total) => progress.phase(p, total),
    onLoadProgress: (d) => progress.update(d),
    onFitProgress: (p) => progress.fit(p),
    onProgress: (p) =>
      p.kind === 'step'
        ? progress.train(p)
        : (progress.done(),
          console.log(`epoch ${p.epoch}/${p.epochs}: validation loss ${p.validationLoss?.toFixed(5)}`)),
  });
  progress.done();
  console.log(
    `trained in ${r.result.seconds.toFixed(0)} s; threshold ${r.meta.calibration!.threshold.toPrecision(4)}`,
  );
  return modelDir;
}

export async function runDemo(backend: BackendStatus, dataDir: string): Promise<void> {
  const modelDir = await ensureDemoModel(backend, dataDir);
  const data = demoData(dataDir);
  const progress = new Progress();
  const model = await loadModel(modelDir);
  const { engine } = await chooseEngine(modelDir, model, 'auto', 1);
  try {
    const report = await evaluateModel(model, DEMO_MODEL.name, data, {
      backend: backend.name,
      engine,
      onPhase: (p, total) => progress.phase(p, total),
      onProgress: (d) => progress.update(d),
    });
    progress.done();
    console.log(formatEvalTable(report));
  } finally {
    await engine.dispose();
  }
  const tests = await mvtecTestSet(data);
  const picks = [
    ...tests.filter((t) => t.label === 0).slice(0, 2),
    ...tests.filter((t) => t.label === 1).slice(0, 2),
  ].map((t) => t.file);
  const heat = join(dataDir, 'demo-heatmaps');
  await runScore(modelDir, picks, heat);
  console.log(`heatmap overlays of two good and two defective parts: ${heat}`);
}
