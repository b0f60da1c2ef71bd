// `station demo` (what `npm start` runs until the station UI lands): train a GANomaly in patch mode on the
// bundled DeepPCB sample (resources/demo/deeppcb, MIT), evaluate it on the sample's labelled test split,
// and write heatmaps of a few test images. The trained model is kept and reused on the next start.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackendStatus } from '../../ml';
import { loadModel } from '../io/model-store';
import { chooseEngine } from '../station/engine-choice';
import { evaluateModel } from '../tasks/evaluate';
import { trainModel } from '../tasks/train-model';
import { formatEvalTable } from './format';
import { Progress } from './progress';
import { runScore } from './score-command';
import { mvtecTestSet } from '../io/datasets';

export const DEMO_DATA = resolve('resources', 'demo', 'deeppcb');

/** The demo model (trained once on the bundled sample, then reused): its folder. */
export async function ensureDemoModel(backend: BackendStatus, dataDir: string): Promise<string> {
  const modelDir = join(dataDir, 'models', 'demo-ganomaly-pcb');
  const progress = new Progress();
  if (!existsSync(join(modelDir, 'meta.json'))) {
    console.log(
      `training a demo GANomaly (32 px patches of 256 px PCB scans) on ${DEMO_DATA} -> ${modelDir}`,
    );
    const r = await trainModel({
      data: DEMO_DATA,
      out: modelDir,
      method: 'ganomaly',
      size: 32,
      channels: 1,
      epochs: 3,
      batchSize: 32,
      patch: { workingSize: 256, stride: 32, stepsPerEpoch: 15 },
      resume: existsSync(join(modelDir, 'checkpoint')),
      backend,
      onPhase: (p, total) => progress.phase(p, total),
      onLoadProgress: (d) => progress.update(d),
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
  } else {
    console.log(`using the demo model trained earlier: ${modelDir}`);
  }
  return modelDir;
}

export async function runDemo(backend: BackendStatus, dataDir: string): Promise<void> {
  const modelDir = await ensureDemoModel(backend, dataDir);
  const progress = new Progress();
  const model = await loadModel(modelDir);
  const { engine } = await chooseEngine(modelDir, model, 'auto', 1);
  try {
    const report = await evaluateModel(model, 'demo-ganomaly-pcb', DEMO_DATA, {
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
  const tests = await mvtecTestSet(DEMO_DATA);
  const picks = [
    ...tests.filter((t) => t.label === 0).slice(0, 2),
    ...tests.filter((t) => t.label === 1).slice(0, 2),
  ].map((t) => t.file);
  const heat = join(dataDir, 'demo-heatmaps');
  await runScore(modelDir, picks, heat);
  console.log(`heatmap overlays of two good and two defective boards: ${heat}`);
}
