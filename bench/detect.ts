// `npm run bench:detect`: detection quality of each method's default on real data, through the same code
// the CLI uses (trainModel + evaluateModel): Fashion-MNIST one-class (Debian's dataset-fashion-mnist; train
// on one class, the other nine are anomalies) and the MVTec-layout sets in ../shared/data. One JSON per
// (method, data set) under bench/results/detection/, and a Markdown table per method rebuilt from all of
// them, so runs can be split across processes and resumed. For MVTec-layout sets it also writes a heatmap
// contact sheet per model (detection/heatmaps/<method>-<set>.png: 3 images per defect type and 3 good).
//   npm run bench:detect -- [--methods ganomaly-fusion,ganomaly,egbad,anogan] [--sets fmnist0,...,fmnist9,magnetic_tile,deeppcb]
//     [--epochs 15] [--limit N] [--max-test N] [--size 32] [--table-only]
//     [--patch --working-size 256 --stride 16 --steps-per-epoch N --tag=-patch] [--skip-reference]
// Every set also gets the PyTorch GANomaly reference (bench/torch_ganomaly.py: the paper's defaults, 32x32,
// 15 epochs, last epoch, eval mode) on the same folder and the same --limit, once per set (kept in
// detection/reference/), so every row shows ours beside it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_WORKING_SIZE,
  describeBackend,
  FEATURE_METHODS,
  METHODS,
  selectBackend,
  type Method,
} from '../src/ml';
import { trainModel } from '../src/main/tasks/train-model';
import { evaluateModel, type EvalReport } from '../src/main/tasks/evaluate';
import { chooseEngine } from '../src/main/station/engine-choice';
import { loadModel } from '../src/main/io/model-store';
import { exportFashionMnist, FASHION_CLASSES } from '../src/main/tasks/fashion-mnist';
import { mvtecTestSet } from '../src/main/io/datasets';
import { pickExamples, writeHeatmapSheet } from './heatmaps';
import { runPatchcoreReference, type PatchcoreReference } from './patchcore-reference';
import { loadImages } from '../src/main/io/images';
import { scoreImages, TfjsEngine } from '../src/ml';

const { values } = parseArgs({
  options: {
    methods: { type: 'string', default: METHODS.join(',') },
    sets: {
      type: 'string',
      default: [...FASHION_CLASSES.map((_, i) => `fmnist${i}`), 'magnetic_tile', 'deeppcb'].join(','),
    },
    epochs: { type: 'string', default: '15' },
    limit: { type: 'string' },
    'max-test': { type: 'string' },
    size: { type: 'string' },
    scale: { type: 'string' },
    work: { type: 'string', default: '.tmp/detect' },
    out: { type: 'string', default: 'bench/results' },
    'table-only': { type: 'boolean', default: false },
    patch: { type: 'boolean', default: false },
    'working-size': { type: 'string', default: '256' },
    stride: { type: 'string' },
    'steps-per-epoch': { type: 'string' },
    tag: { type: 'string', default: '' },
    'skip-reference': { type: 'boolean', default: false },
  },
});

const outDir = resolve(values.out, 'detection');
mkdirSync(outDir, { recursive: true });

interface Row {
  method: string;
  set: string;
  size: number;
  epochs: number;
  bestEpoch: number;
  trainImages: number;
  trainSeconds: number;
  report: EvalReport;
  settings: Record<string, unknown>;
  date: string;
  /** Feature methods: scoring images/s on the tfjs engine (same images; the report's figure is the station's engine). */
  tfjsImagesPerSecond?: number;
  /** Peak resident memory of the bench process when the row was written, MB. */
  peakRssMb?: number;
  /** Feature methods: the PyTorch PatchCore reference on the same weights and images. */
  reference?: PatchcoreReference;
}

async function prepare(set: string, maxTest?: number): Promise<string> {
  if (set.startsWith('fmnist')) {
    const cls = Number(set.slice(6));
    const dir = resolve(values.work, 'data', `${set}${maxTest ? `-t${maxTest}` : ''}`);
    if (!existsSync(join(dir, 'SOURCE.txt'))) await exportFashionMnist(cls, dir, { maxTest });
    return dir;
  }
  const dir = resolve('..', 'shared', 'data', set);
  if (!existsSync(dir)) throw new Error(`data set ${set} not found at ${dir}`);
  return dir;
}

async function runOne(method: Method, set: string): Promise<void> {
  const backend = await selectBackend();
  const maxTest = values['max-test'] ? Number(values['max-test']) : undefined;
  const data = await prepare(set, set.startsWith('fmnist') ? maxTest : undefined);
  const feature = FEATURE_METHODS.includes(method);
  // GAN methods: the network input (default 32); feature methods: the longest side cap (their default).
  const size = values.size !== undefined ? Number(values.size) : feature ? DEFAULT_WORKING_SIZE : 32;
  const epochs = Number(values.epochs);
  const name = `${method}-${set}${values.tag}`;
  const modelDir = resolve(values.work, 'models', name);
  const t0 = performance.now();
  let lastLog = 0;
  const trained = await trainModel({
    data,
    out: modelDir,
    method,
    size,
    channels: 1,
    epochs,
    limit: values.limit ? Number(values.limit) : undefined,
    // One ONNX Runtime thread for the feature extraction, as the PyTorch reference's one thread.
    threads: 1,
    overrides: feature && values.scale ? { scale: Number(values.scale) } : undefined,
    onFitProgress: (p) => {
      if (p.done === p.total || Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        console.error(`[${method} ${set}] ${p.phase} ${p.done}/${p.total}`);
      }
    },
    patch: values.patch
      ? {
          workingSize: Number(values['working-size']),
          stride: values.stride ? Number(values.stride) : undefined,
          stepsPerEpoch: values['steps-per-epoch'] ? Number(values['steps-per-epoch']) : undefined,
        }
      : undefined,
    backend,
    onProgress: (p) => {
      if (p.kind === 'epoch' || Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        console.error(
          `[${method} ${set}] epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} ${p.imagesPerSecond.toFixed(1)} img/s${p.validationLoss !== undefined ? ` val ${p.validationLoss.toFixed(5)}` : ''}`,
        );
      }
    },
  });
  const model = await loadModel(modelDir);
  // The station's engine choice: ONNX Runtime after its parity check (AnoGAN: tfjs).
  const { engine } = await chooseEngine(modelDir, model, 'auto', 1);
  const report = await evaluateModel(model, name, data, {
    backend: backend.name,
    engine,
    maxPerType: set.startsWith('fmnist') ? undefined : maxTest,
  });
  await engine.dispose();
  // Feature methods: the tfjs engine's speed on the same images (a sample of 40), and the PyTorch reference.
  let tfjsImagesPerSecond: number | undefined;
  let reference: PatchcoreReference | undefined;
  if (feature) {
    const m = await loadModel(modelDir);
    const sample = (await mvtecTestSet(data)).filter(
      (_, i, a) => i % Math.max(1, Math.floor(a.length / 40)) === 0,
    );
    const images = (
      await loadImages(
        sample.map((t) => t.file),
        m.load,
      )
    ).samples.slice(0, 40);
    const tfjs = new TfjsEngine(m.detector);
    await scoreImages(tfjs, images.slice(0, 2), m.input); // warm-up
    const t1 = performance.now();
    await scoreImages(tfjs, images, m.input, { maps: true });
    tfjsImagesPerSecond = images.length / ((performance.now() - t1) / 1000);
    if (!values['skip-reference'] && method === 'patchcore')
      // One thread, as our engines run here (chooseEngine(..., 1); wasm is single-threaded).
      reference = await runPatchcoreReference(m, data, resolve(values.work, 'torch', name), 1);
    await tfjs.dispose();
  }
  // Heatmap sheets for the sets with defect types and masks (the engine above may have freed tfjs's copy).
  if (!set.startsWith('fmnist')) {
    const sheetModel = await loadModel(modelDir);
    const sheet = join(outDir, 'heatmaps', `${name}.png`);
    mkdirSync(join(outDir, 'heatmaps'), { recursive: true });
    const n = await writeHeatmapSheet(sheetModel, pickExamples(await mvtecTestSet(data), 3), sheet);
    sheetModel.detector.dispose();
    console.error(`[${method} ${set}] ${n} heatmaps in ${sheet}`);
  }
  // Per-image scores stay in the JSON only for small sets (they make the file large otherwise).
  if (report.scores.length > 2000) report.scores = [];
  const row: Row = {
    method,
    set: `${set}${values.tag}`,
    size,
    epochs: trained.result.epochsRun,
    bestEpoch: trained.result.bestEpoch,
    trainImages: trained.meta.training!.images,
    trainSeconds: trained.result.seconds,
    report,
    settings: {
      limit: values.limit ?? null,
      maxTest: maxTest ?? null,
      requestedEpochs: epochs,
      input: trained.meta.input,
    },
    date: new Date().toISOString(),
    tfjsImagesPerSecond,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    reference,
  };
  writeFileSync(
    join(outDir, `${name}.json`),
    JSON.stringify(row, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1),
  );
  console.error(
    `[${method} ${set}] AUROC ${report.overall.auroc.toFixed(3)} pixel ${report.overall.pixelAuroc?.toFixed?.(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

interface Reference {
  auroc: number;
  perType: Record<string, number>;
  trainImages: number;
  trainSeconds: number;
  epochs: number;
  torch: string;
  settings: { limit: string | null; command: string };
}

const referenceDir = join(outDir, 'reference');
const referenceFile = (set: string) => join(referenceDir, `torch-ganomaly-${set}.json`);

/** The PyTorch GANomaly reference on the same folder and --limit as ours (once per set; delete to redo). */
async function runReference(set: string): Promise<void> {
  if (existsSync(referenceFile(set))) return;
  const maxTest = values['max-test'] ? Number(values['max-test']) : undefined;
  const data = await prepare(set, set.startsWith('fmnist') ? maxTest : undefined);
  const args = ['bench/torch_ganomaly.py', '--data', data, '--epochs', '15', '--channels', '1'];
  if (values.limit) args.push('--limit', values.limit);
  args.push('--threads', String(availableParallelism()));
  console.error(`[reference ${set}] /usr/bin/python3 ${args.join(' ')}`);
  const out = execFileSync('/usr/bin/python3', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ref = JSON.parse(out.trim().split('\n').at(-1)!) as Omit<Reference, 'settings'>;
  mkdirSync(referenceDir, { recursive: true });
  const settings = { limit: values.limit ?? null, command: `/usr/bin/python3 ${args.join(' ')}` };
  writeFileSync(referenceFile(set), JSON.stringify({ ...ref, settings }, null, 1));
  console.error(`[reference ${set}] AUROC ${ref.auroc.toFixed(3)} (${ref.trainSeconds.toFixed(0)} s)`);
}

function readReferences(): [string, Reference][] {
  return readdirSync(referenceDir)
    .filter((f) => f.startsWith('torch-ganomaly-') && f.endsWith('.json'))
    .map(
      (f) =>
        [
          f.slice('torch-ganomaly-'.length, -'.json'.length),
          JSON.parse(readFileSync(join(referenceDir, f), 'utf8')) as Reference,
        ] as [string, Reference],
    )
    .sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true }));
}

function readReference(set: string): Reference | undefined {
  // Rows of a variant (e.g. magnetic_tile-patch32) compare with the reference on their base set.
  const file = referenceFile(set.replace(/-.*$/, ''));
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Reference) : undefined;
}

const f3 = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(3);

function writeTables(): void {
  const rows: Row[] = readdirSync(outDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(outDir, f), 'utf8')));
  const md: string[] = [
    "# Detection (each method's default configuration; threshold calibrated on held-out GOOD training images)",
    '',
    `Machine: ${cpus()[0]?.model} (${availableParallelism()} cores). Written by \`npm run bench:detect\`; raw numbers in detection/*.json; heatmap sheets in detection/heatmaps/ (written by the run, not committed: they show the data sets' images).`,
    '',
  ];
  for (const method of METHODS) {
    const mine = rows
      .filter((r) => r.method === method)
      .sort((a, b) => a.set.localeCompare(b.set, 'en', { numeric: true }));
    if (!mine.length) continue;
    if (FEATURE_METHODS.includes(method)) {
      md.push(
        `## ${method}`,
        '',
        method === 'patchcore'
          ? 'PyTorch reference: bench/torch_patchcore.py, the same backbone weights and decoded images, one thread for fitting and scoring (as ours: ONNX Runtime 1 thread, wasm 1 thread); time ratio = our seconds / its seconds (below 1: ours is faster).'
          : 'PyTorch reference: none for this method (bench/torch_patchcore.py is PatchCore only); its columns stay empty.',
        '',
        '| data set | train imgs | train s | test imgs | AUROC | AUPRC | pixel AUROC | PRO | FAR test/good | ORT img/s | tfjs img/s | peak RSS MB | PyTorch AUROC | PyTorch train s | PyTorch img/s | time ours/PyTorch train, score |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      );
      for (const r of mine) {
        const o = r.report.overall;
        const ref = r.reference;
        const ratio = ref
          ? `${(r.trainSeconds / ref.trainSeconds).toFixed(2)}, ${(ref.scoreImagesPerSecond / r.report.scoringImagesPerSecond).toFixed(2)}`
          : '-';
        md.push(
          `| ${r.set} | ${r.trainImages} | ${r.trainSeconds.toFixed(0)} | ${o.images} | ${f3(o.auroc)} | ${f3(o.auprc)} | ${f3(o.pixelAuroc)} | ${f3(o.pro)} | ${f3(r.report.falseAlarmRate)} | ${r.report.scoringImagesPerSecond.toFixed(1)} | ${r.tfjsImagesPerSecond?.toFixed(1) ?? '-'} | ${r.peakRssMb?.toFixed(0) ?? '-'} | ${f3(ref?.auroc)} | ${ref ? ref.trainSeconds.toFixed(0) : '-'} | ${ref ? ref.scoreImagesPerSecond.toFixed(1) : '-'} | ${ratio} |`,
        );
      }
    } else {
      md.push(
        `## ${method}`,
        '',
        '| data set | train imgs | epochs (best) | train s | test imgs | AUROC | PyTorch GANomaly ref AUROC | AUPRC | F1@thr | FAR test/good | pixel AUROC | score img/s | backend |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      );
      for (const r of mine) {
        const o = r.report.overall;
        const ref = readReference(r.set);
        const vs = ref ? ` (${o.auroc >= ref.auroc ? 'ours ahead' : 'ref ahead'})` : '';
        md.push(
          `| ${r.set} | ${r.trainImages} | ${r.epochs} (${r.bestEpoch}) | ${r.trainSeconds.toFixed(0)} | ${o.images} | ${f3(o.auroc)} | ${f3(ref?.auroc)}${vs} | ${f3(o.auprc)} | ${f3(o.f1)} | ${f3(r.report.falseAlarmRate)} | ${f3(o.pixelAuroc)} | ${r.report.scoringImagesPerSecond.toFixed(1)} | ${r.report.backend} |`,
        );
      }
    }
    const fm = mine.filter((r) => r.set.startsWith('fmnist'));
    const fmRefs = fm.map((r) => readReference(r.set)).filter((x): x is Reference => !!x);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    if (fm.length && FEATURE_METHODS.includes(method)) {
      const refs = fm.map((r) => r.reference?.auroc).filter((x): x is number => x !== undefined);
      md.push(
        `| **Fashion-MNIST mean (${fm.length} classes)** | | | | **${f3(mean(fm.map((r) => r.report.overall.auroc)))}** | | | | | | | | ${refs.length === fm.length ? `**${f3(mean(refs))}**` : '-'} | | | |`,
      );
    } else if (fm.length)
      md.push(
        `| **Fashion-MNIST mean (${fm.length} classes)** | | | | | **${f3(mean(fm.map((r) => r.report.overall.auroc)))}** | ${fmRefs.length === fm.length ? `**${f3(mean(fmRefs.map((x) => x.auroc)))}**` : '-'} | | | | | | |`,
      );
    md.push('');
    for (const r of mine.filter((x) => x.report.perType.length > 1 && !x.set.startsWith('fmnist'))) {
      md.push(
        `${method} on ${r.set}, per defect type (each against test/good):`,
        '',
        '| type | images | AUROC | AUPRC | F1@thr | recall | pixel AUROC | PRO |',
        '|---|---|---|---|---|---|---|---|',
      );
      for (const t of r.report.perType)
        md.push(
          `| ${t.type} | ${t.images} | ${f3(t.auroc)} | ${f3(t.auprc)} | ${f3(t.f1)} | ${f3(t.recall)} | ${f3(t.pixelAuroc)} | ${f3(t.pro)} |`,
        );
      md.push('');
    }
    for (const r of mine.filter((x) => typeof x.settings.note === 'string'))
      md.push(`Note on ${r.set}: ${r.settings.note}`, '');
    for (const r of mine.filter((x) => x.report.patchStatisticAuroc)) {
      const st = Object.entries(r.report.patchStatisticAuroc!)
        .map(([k, v]) => `${k} ${f3(v)}`)
        .join(', ');
      md.push(`${method} on ${r.set}: image AUROC by patch statistic (same tiles): ${st}`, '');
    }
    const alts = mine.filter((x) => x.report.scoreAlternativesAuroc);
    if (alts.length) {
      const keys = Object.keys(alts[0].report.scoreAlternativesAuroc!);
      md.push(
        `${method}: image AUROC of other scores from the same forward pass (reported, not used to choose)`,
        '',
        `| data set | ${keys.join(' | ')} |`,
        `|---|${keys.map(() => '---').join('|')}|`,
        ...alts.map(
          (r) => `| ${r.set} | ${keys.map((k) => f3(r.report.scoreAlternativesAuroc![k])).join(' | ')} |`,
        ),
        '',
      );
    }
  }
  const refs = existsSync(referenceDir) ? readReferences() : [];
  if (refs.length)
    md.push(
      '## PyTorch GANomaly reference (bench/torch_ganomaly.py)',
      '',
      "The paper's defaults: 32x32, nz 100, ngf = ndf = 64, weights 1 / 50 / 1, Adam 2e-4 (0.5, 0.999), batch 64,",
      '15 epochs, the last epoch, eval mode, latent score; trained on all of the same train/good files (the same',
      '--limit; no hold-out, as the paper), tested on the same test folder. One run per set (seed 0).',
      '',
      '| data set | train imgs | train s | AUROC | torch |',
      '|---|---|---|---|---|',
      ...refs.map(
        ([set, r]) =>
          `| ${set} | ${r.trainImages} | ${r.trainSeconds.toFixed(0)} | ${f3(r.auroc)} | ${r.torch} |`,
      ),
      '',
    );
  writeFileSync(resolve(values.out, 'detection.md'), md.join('\n'));
  console.log(md.join('\n'));
}

if (!values['table-only']) {
  const backend = await selectBackend();
  console.error(`${describeBackend(backend)}\nshell: bench (node ${process.versions.node})`);
  for (const method of values.methods.split(',') as Method[]) {
    for (const set of values.sets.split(',')) await runOne(method, set);
  }
  if (!values['skip-reference']) for (const set of values.sets.split(',')) await runReference(set);
}
writeTables();
