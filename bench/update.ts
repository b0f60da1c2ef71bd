// The model-update benchmark (issue 16): how long it takes to update a bank-based model (PatchCore) with 100 new
// good images, and what the update does to detection on a held-out drifted split, before and after.
//
//   npm run bench:update -- [--width 640] [--height 480] [--train 60] [--new 100] [--held 20]
//                           [--reps 3] [--bank-reps 5] [--max-bank-growth 0.25] [--out bench/results]
//                           [--backend wasm] [--keep]
//
// Data: generated "machined surface" parts (test/helpers/synthetic.ts texturedPart): the original lot has
// stripes of pitch 3, the drifted lot (a new tool) pitch 6 — a drift PatchCore flags (its input normalisation
// takes out brightness and contrast, so "the same parts brighter" would not be one). Defects are thin dark
// scratches and small dark pits on either lot.
//
// Timed: (1) extendBank alone: the 100 new images' features and the bank's growth (the images already decoded);
// (2) the whole update as the station runs it (updateModel: decode, parent and child score everything they are
// compared on, calibration, ONNX export, the child's folder written). Median and min–max over the reps.
// Measured once, on a split no model saw: image AUROC of parent and child (drifted good vs defects, and every
// good vs every defect), and each model's verdicts at its own threshold.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  auroc,
  describeBackend,
  scoreImages,
  selectBackend,
  TfjsEngine,
  type ImageSample,
  type Patchcore,
} from '../src/ml';
import { loadImages } from '../src/main/io/images';
import { loadModel, readModelMeta } from '../src/main/io/model-store';
import { splitGoodImages, trainingImages } from '../src/main/io/datasets';
import { trainModel } from '../src/main/tasks/train-model';
import { DEFAULT_MAX_BANK_GROWTH, updateModel, type ImageRef } from '../src/main/tasks/update-model';
import { writeGray } from '../test/helpers/fixtures';
import { texturedPart } from '../test/helpers/synthetic';
import { describeMachine, summarize, type Summary } from './common';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '640' },
    height: { type: 'string', default: '480' },
    train: { type: 'string', default: '60' },
    new: { type: 'string', default: '100' },
    held: { type: 'string', default: '20' },
    reps: { type: 'string', default: '3' },
    'bank-reps': { type: 'string', default: '5' },
    'max-bank-growth': { type: 'string', default: String(DEFAULT_MAX_BANK_GROWTH) },
    out: { type: 'string', default: 'bench/results' },
    backend: { type: 'string', default: 'wasm' },
    work: { type: 'string', default: join(os.tmpdir(), `update-bench-${process.pid}`) },
    keep: { type: 'boolean', default: false },
  },
});
const W = Number(values.width);
const H = Number(values.height);
const N_TRAIN = Number(values.train);
const N_NEW = Number(values.new);
const N_HELD = Number(values.held);
const REPS = Number(values.reps);
const BANK_REPS = Number(values['bank-reps']);
const MAX_BANK_GROWTH = Number(values['max-bank-growth']);
const work = values.work;

interface PartSpec {
  seed: number;
  pitch: 3 | 6;
  defect?: 'scratch' | 'spot';
}

async function writeParts(dir: string, specs: PartSpec[]): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const s of specs) {
    const file = join(dir, `${s.defect ?? 'good'}-p${s.pitch}-${s.seed}.png`);
    const p = texturedPart({ width: W, height: H, channels: 1, ...s });
    await writeGray(file, p.sample.data, W, H);
    files.push(file);
  }
  return files;
}

const range = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const fmt = (s: Summary, digits = 2) =>
  `${s.median.toFixed(digits)} s (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

async function main(): Promise<void> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const backend = await selectBackend(values.backend);
  const machine = describeMachine();
  console.error(`${describeBackend(backend)}; work dir ${work}`);

  // ---- the parent: fitted on the original lot
  const goodDir = join(work, 'good');
  await writeParts(
    goodDir,
    range(N_TRAIN, 100).map((seed) => ({ seed, pitch: 3 })),
  );
  const parentDir = join(work, 'parent');
  let t0 = performance.now();
  await trainModel({
    data: goodDir,
    out: parentDir,
    method: 'patchcore',
    size: 0,
    channels: 1,
    epochs: 1,
    holdout: 0.5,
    backend,
  });
  const fitSeconds = seconds(t0);
  const parentMeta = await readModelMeta(parentDir);
  console.error(`parent fitted in ${fitSeconds.toFixed(1)} s`);

  // ---- the feedback: a drifted lot the operators cleared, and a few confirmed defects
  const addFiles = await writeParts(
    join(work, 'new'),
    range(N_NEW, 5000).map((seed) => ({ seed, pitch: 6 })),
  );
  const heldFiles = await writeParts(
    join(work, 'held'),
    range(N_HELD, 5500).map((seed) => ({ seed, pitch: 6 })),
  );
  const cmpDefects = await writeParts(
    join(work, 'confirmed'),
    range(20, 8000).map((seed, i) => ({
      seed,
      pitch: i % 2 ? 6 : 3,
      defect: i % 4 < 2 ? 'spot' : 'scratch',
    })),
  );
  const refs = (files: string[]): ImageRef[] => files.map((file, i) => ({ id: i + 1, file, asSeen: false }));
  const split = splitGoodImages(await trainingImages(goodDir), 0.5);
  const old = {
    train: refs(split.train),
    validation: refs(split.validation),
    calibration: refs(split.calibration),
  };

  // ---- the held-out drifted split nobody learns from
  const test = {
    drifted: await writeParts(
      join(work, 'test'),
      range(100, 7000).map((seed) => ({ seed, pitch: 6 })),
    ),
    original: await writeParts(
      join(work, 'test'),
      range(50, 9000).map((seed) => ({ seed, pitch: 3 })),
    ),
    defects: await writeParts(
      join(work, 'test'),
      range(100, 8500).map((seed, i) => ({
        seed,
        pitch: i % 2 ? 6 : 3,
        defect: i % 4 < 2 ? 'spot' : 'scratch',
      })),
    ),
  };

  // ---- (1) extendBank alone, on decoded images
  const parent = await loadModel(parentDir);
  const newImages: ImageSample[] = (await loadImages(addFiles, parent.load)).samples;
  const rowsBefore = (parent.detector as Patchcore).config.bankSources!.length;
  const cap = Math.floor(rowsBefore * MAX_BANK_GROWTH);
  parent.detector.dispose();
  const bankTimes: number[] = [];
  let rowsAdded = 0;
  for (let r = 0; r < BANK_REPS; r++) {
    const m = await loadModel(parentDir);
    t0 = performance.now();
    rowsAdded = await (m.detector as Patchcore).extendBank(newImages, cap, { batchSize: 1 });
    bankTimes.push(seconds(t0));
    m.detector.dispose();
    console.error(`extendBank rep ${r + 1}: ${bankTimes.at(-1)!.toFixed(2)} s, +${rowsAdded} rows`);
  }

  // ---- (2) the whole update, as the station runs it
  const updateTimes: number[] = [];
  let firstChild = '';
  let comparison;
  for (let r = 0; r < REPS; r++) {
    const out = join(work, `child-${r}`);
    t0 = performance.now();
    const res = await updateModel({
      parentDir,
      out,
      name: 'child',
      parentThreshold: parentMeta.calibration!.threshold,
      added: refs(addFiles),
      heldOut: refs(heldFiles),
      old,
      defects: refs(cmpDefects),
      passed: [],
      lineage: new TextEncoder().encode('{}'),
      maxBankGrowth: MAX_BANK_GROWTH,
      backend,
    });
    updateTimes.push(seconds(t0));
    console.error(`updateModel rep ${r + 1}: ${updateTimes.at(-1)!.toFixed(2)} s`);
    if (!firstChild) {
      firstChild = out;
      comparison = res.comparison;
    }
  }

  // ---- detection on the held-out split, before and after
  const measure = async (dir: string) => {
    const m = await loadModel(dir);
    const engine = new TfjsEngine(m.detector);
    const score = async (files: string[]) =>
      (await scoreImages(engine, (await loadImages(files, m.load)).samples, m.input)).map((s) => s.score);
    const s = {
      drifted: await score(test.drifted),
      original: await score(test.original),
      defects: await score(test.defects),
    };
    m.detector.dispose();
    const threshold = m.meta.calibration!.threshold;
    const rate = (xs: number[]) => xs.filter((x) => x > threshold).length / xs.length;
    const auc = (good: number[], bad: number[]) =>
      auroc([...good, ...bad], [...good.map(() => 0), ...bad.map(() => 1)]);
    return {
      threshold,
      aurocDrifted: auc(s.drifted, s.defects),
      aurocOriginal: auc(s.original, s.defects),
      aurocAll: auc([...s.drifted, ...s.original], s.defects),
      driftedFlagged: rate(s.drifted),
      originalFlagged: rate(s.original),
      defectsFlagged: rate(s.defects),
    };
  };
  const before = await measure(parentDir);
  const after = await measure(firstChild);

  const bank = summarize(bankTimes);
  const whole = summarize(updateTimes);
  const workSide = `${Math.round(W * ((parentMeta.input as { scale?: number }).scale ?? 1))} x ${Math.round(H * ((parentMeta.input as { scale?: number }).scale ?? 1))}`;
  const json = {
    command: `npm run bench:update${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine,
    backend: describeBackend(backend),
    images: { width: W, height: H, judgedAt: workSide, train: N_TRAIN, new: N_NEW, heldOut: N_HELD },
    parent: {
      fitSeconds,
      bankRows: rowsBefore,
      trainImages: parentMeta.training!.images,
      calibrationImages: parentMeta.training!.calibrationImages,
    },
    extendBank: { ...bank, rowsAdded, cap, reps: bankTimes },
    updateModel: { ...whole, reps: updateTimes },
    comparison,
    detection: {
      before,
      after,
      test: { drifted: test.drifted.length, original: test.original.length, defects: test.defects.length },
    },
  };
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const m = machine;
  const md = `# Model-update benchmark

${m.cpu}, ${m.cpus} logical CPUs (${m.availableParallelism} usable), ${m.memoryGiB} GiB, ${m.platform} ${m.arch}; load average at start ${m.loadavg.join(' / ')}.
${json.backend}.
Command: \`${json.command}\`

Data: generated ${W} x ${H} gray "machined surface" parts (test/helpers/synthetic.ts), judged at ${workSide}
(the model's default scale). Parent: PatchCore fitted on ${N_TRAIN} parts of the original lot (stripe pitch 3;
${parentMeta.training!.images} fitted, ${parentMeta.training!.calibrationImages} calibrate), in ${fitSeconds.toFixed(1)} s; its bank has ${rowsBefore} rows.
Feedback: ${N_NEW} parts of a drifted lot (pitch 6: a new tool) cleared as false alarms and added, ${N_HELD} more
held out to calibrate the child, 20 confirmed defects to check it.

## Time to update with ${N_NEW} new good images

| what | time, median (min–max) | reps |
|---|---|---|
| extendBank alone (features of ${N_NEW} decoded images, bank + ${rowsAdded} rows, cap ${cap}) | ${fmt(bank)} | ${bank.n} |
| the whole update (updateModel: decode, parent and child score ${N_NEW + N_HELD + 20 + split.calibration.length} images each, calibrate, ONNX export, write the child) | ${fmt(whole)} | ${whole.n} |

## Detection on a held-out drifted split, before and after

${test.drifted.length} drifted good parts, ${test.original.length} original good parts and ${test.defects.length} defects (half on each lot), none
seen by either model. Image AUROC, and each model's verdicts at its own calibrated threshold.

| | parent | child |
|---|---|---|
| AUROC, drifted good vs defects | ${before.aurocDrifted.toFixed(3)} | ${after.aurocDrifted.toFixed(3)} |
| AUROC, original good vs defects | ${before.aurocOriginal.toFixed(3)} | ${after.aurocOriginal.toFixed(3)} |
| AUROC, all good vs defects | ${before.aurocAll.toFixed(3)} | ${after.aurocAll.toFixed(3)} |
| threshold (raw score) | ${before.threshold.toFixed(3)} | ${after.threshold.toFixed(3)} |
| drifted good parts flagged | ${pct(before.driftedFlagged)} | ${pct(after.driftedFlagged)} |
| original good parts flagged | ${pct(before.originalFlagged)} | ${pct(after.originalFlagged)} |
| defects flagged (recall) | ${pct(before.defectsFlagged)} | ${pct(after.defectsFlagged)} |
${
  comparison
    ? `
The station's own comparison of the first child (what the Models view shows before activating): it passes
${comparison.child.falseAlarmsPassed} of the ${comparison.falseAlarms} cleared parts (${comparison.child.heldOutFalseAlarmsPassed} of the ${comparison.heldOutFalseAlarms} held out; the parent ${comparison.parent.falseAlarmsPassed}),
flags ${comparison.child.defectsFlagged} of ${comparison.defects} confirmed defects (the parent ${comparison.parent.defectsFlagged}) and ${comparison.child.heldOutGoodFlagged} of ${comparison.heldOutGood} held-out good images (the parent ${comparison.parent.heldOutGoodFlagged}).
`
    : ''
}`;
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'update.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(values.out, 'update.md'), md);
  console.log(md);
  if (!values.keep) rmSync(work, { recursive: true, force: true });
}

await main();
