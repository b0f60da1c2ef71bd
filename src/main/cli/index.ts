// `station`: the command line of Anomaly Station. Every run first says which ML backend and shell it got.
//   station train --data DIR --method ganomaly-fusion|ganomaly|egbad|anogan --out MODEL [--size --channels --patch ...]
//   station eval  --data MVTEC_DIR --model MODEL [--json FILE]
//   station score --model MODEL IMAGE... [--heatmap OUT_DIR]
//   station dataset fashion-mnist --class N --out DIR
//   station serve | watch | verify-audit   (the station core: see station-commands.ts)
//   station report --from ISO --to ISO ...  (audit report PDF / CSV: see report-command.ts)
//   station backend
import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  describeBackend,
  DEFAULT_METHOD,
  METHODS,
  selectBackend,
  SUPPORTED_SIZES,
  type Method,
  type PatchStatistic,
} from '../../ml';
import { ImageError } from '../io/images';
import { Progress } from './progress';
import { runExport, runScore } from './score-command';
import { trainModel } from '../tasks/train-model';
import { evaluateModel } from '../tasks/evaluate';
import { formatEvalTable } from './format';
import { DEMO_DATA, runDemo } from './demo';
import { exportFashionMnist } from '../tasks/fashion-mnist';
import { loadModel } from '../io/model-store';
import { chooseEngine, type EnginePreference } from '../station/engine-choice';
import { cmdStart } from './demo-station';
import { cmdServe, cmdVerifyAudit, cmdWatch, STATION_USAGE } from './station-commands';
import { cmdReport, REPORT_USAGE } from './report-command';

const USAGE = `station <command> [options]

commands:
  train    --data DIR --out MODEL [--method ganomaly-fusion|ganomaly|egbad|anogan] [--size 32|64|128|256] [--channels 1|3]
           [--epochs N] [--batch N] [--patch] [--working-size PX] [--stride PX] [--statistic map-max|map-p99|max-patch]
           [--steps-per-epoch N] [--holdout 0.2] [--false-alarm-rate 0.005] [--defects DIR] [--patience 5]
           [--limit N] [--resume]
           DIR: a folder of good images, or an MVTec-layout set (train/good is used)
           --defects DIR: labelled defect images (never the test set): the threshold becomes the F1-optimal one
  eval     --data MVTEC_DIR --model MODEL [--json FILE] [--no-pixel] [--max-per-type N] [--engine auto|tfjs|onnxruntime]
  score    --model MODEL IMAGE... [--heatmap OUT_DIR]
  dataset  fashion-mnist --class N --out DIR [--max-test N]
  start    [--data-dir .station] [--port 5317] [--every 3] [--for SECONDS]   what npm start runs: the station
           with the demo model judging a demo line fed by a demo camera, served on http://127.0.0.1:5317
  demo     [--data-dir DIR] train (once) and evaluate a GANomaly on the bundled DeepPCB sample, write heatmaps
${STATION_USAGE}
${REPORT_USAGE}
  export   --model MODEL --onnx FILE   write the model's ONNX graph (GANomaly, EGBAD) and check it against tfjs
  backend  print the ML backend this machine gets and why

global: --backend tensorflow-gpu|tensorflow|wasm|cpu (or env STATION_BACKEND)`;

const num = (v: string | undefined, name: string, dflt?: number): number | undefined => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${v}")`);
  return n;
};

class UsageError extends Error {}

/** --backend X / --backend=X, for commands that parse the rest of their options themselves. */
function backendArg(args: string[]): string | undefined {
  const i = args.indexOf('--backend');
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith('--backend='))?.slice('--backend='.length);
}

async function header(backendFlag?: string, shell = 'cli') {
  const status = await selectBackend(backendFlag);
  console.error(`${describeBackend(status)}\nshell: ${shell} (node ${process.versions.node})`);
  return status;
}

async function cmdTrain(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      out: { type: 'string' },
      method: { type: 'string', default: DEFAULT_METHOD },
      size: { type: 'string', default: '32' },
      channels: { type: 'string', default: '1' },
      epochs: { type: 'string', default: '15' },
      batch: { type: 'string', default: '32' },
      patch: { type: 'boolean', default: false },
      'working-size': { type: 'string', default: '0' },
      stride: { type: 'string' },
      statistic: { type: 'string' },
      'steps-per-epoch': { type: 'string' },
      holdout: { type: 'string', default: '0.2' },
      'false-alarm-rate': { type: 'string', default: '0.005' },
      defects: { type: 'string' },
      patience: { type: 'string', default: '5' },
      limit: { type: 'string' },
      resume: { type: 'boolean', default: false },
      backend: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  if (!values.data || !values.out) throw new UsageError('train needs --data DIR and --out MODEL');
  if (!METHODS.includes(values.method as Method))
    throw new UsageError(`--method must be one of ${METHODS.join(', ')}`);
  const size = num(values.size, 'size')!;
  if (!(SUPPORTED_SIZES as readonly number[]).includes(size))
    throw new UsageError(`--size must be one of ${SUPPORTED_SIZES.join(', ')}`);
  const channels = num(values.channels, 'channels');
  if (channels !== 1 && channels !== 3) throw new UsageError('--channels must be 1 or 3');
  const backend = await header(values.backend);
  const progress = new Progress();
  const epochs = num(values.epochs, 'epochs')!;
  const seed = num(values.seed, 'seed');
  // Ctrl-C stops between steps and keeps the last epoch's checkpoint (resume with --resume); a second one quits.
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    console.error('\nstopping after this step (Ctrl-C again to quit at once)...');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  let r;
  try {
    r = await trainModel({
      signal: ac.signal,
      data: resolve(values.data),
      out: resolve(values.out),
      method: values.method as Method,
      size,
      channels,
      epochs,
      batchSize: num(values.batch, 'batch'),
      patch: values.patch
        ? {
            workingSize: num(values['working-size'], 'working-size')!,
            stride: num(values.stride, 'stride'),
            statistic: values.statistic as PatchStatistic | undefined,
            stepsPerEpoch: num(values['steps-per-epoch'], 'steps-per-epoch'),
          }
        : undefined,
      holdout: num(values.holdout, 'holdout'),
      targetFalseAlarmRate: num(values['false-alarm-rate'], 'false-alarm-rate'),
      defects: values.defects ? resolve(values.defects) : undefined,
      patience: num(values.patience, 'patience'),
      limit: num(values.limit, 'limit'),
      overrides: seed !== undefined ? { seed } : undefined,
      resume: values.resume,
      backend,
      onPhase: (phase, total) => progress.phase(phase, total),
      onLoadProgress: (done) => progress.update(done),
      onProgress: (p) => {
        if (p.kind === 'step') {
          progress.train(p);
        } else {
          progress.done();
          const l = Object.entries(p.losses)
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(', ');
          console.error(
            `epoch ${p.epoch}/${p.epochs}: ${l}; validation ${p.validationLoss?.toFixed(5)} (best epoch ${p.bestEpoch}); ${p.imagesPerSecond.toFixed(1)} img/s`,
          );
        }
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  progress.done();
  for (const s of r.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
  const m = r.meta;
  console.log(
    `trained ${m.method} ${m.input.size}x${m.input.size}x${m.input.channels} (${m.input.mode}) on ${m.training!.images} images in ` +
      `${m.training!.seconds.toFixed(0)} s; epochs ${m.training!.epochs} (best ${m.training!.bestEpoch}${r.result.stoppedEarly ? ', stopped early' : ''}); ` +
      `threshold ${m.calibration!.threshold.toPrecision(5)} (${
        m.calibration!.method === 'f1'
          ? `F1-optimal on ${m.calibration!.goodStats.n} held-out good and ${m.calibration!.defectCount} labelled defect images`
          : `${(m.calibration!.targetFalseAlarmRate * 100).toFixed(2)}% false alarms on ${m.calibration!.goodStats.n} held-out good images`
      })\nmodel: ${values.out}`,
  );
}

async function cmdEval(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      model: { type: 'string' },
      json: { type: 'string' },
      'no-pixel': { type: 'boolean', default: false },
      'max-per-type': { type: 'string' },
      backend: { type: 'string' },
      engine: { type: 'string', default: 'auto' },
    },
  });
  if (!values.data || !values.model) throw new UsageError('eval needs --data MVTEC_DIR and --model MODEL');
  if (!['auto', 'tfjs', 'onnxruntime'].includes(values.engine))
    throw new UsageError('--engine must be auto, tfjs or onnxruntime');
  const backend = await header(values.backend);
  const model = await loadModel(resolve(values.model));
  const choice = await chooseEngine(resolve(values.model), model, values.engine as EnginePreference, 1);
  console.error(`scoring engine: ${choice.engine.description} (${choice.reason})`);
  const progress = new Progress();
  try {
    const r = await evaluateModel(model, basename(resolve(values.model)), resolve(values.data), {
      backend: backend.name,
      pixel: !values['no-pixel'],
      maxPerType: num(values['max-per-type'], 'max-per-type'),
      engine: choice.engine,
      onPhase: (p, total) => progress.phase(p, total),
      onProgress: (d) => progress.update(d),
    });
    progress.done();
    for (const s of r.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
    console.log(formatEvalTable(r));
    if (values.json) {
      await writeFile(
        values.json,
        JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2),
      );
      console.log(`wrote ${values.json}`);
    }
  } finally {
    await choice.engine.dispose(); // the tfjs engine disposes the detector; chooseEngine did if it picked ORT
  }
}

async function cmdDataset(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { class: { type: 'string' }, out: { type: 'string' }, 'max-test': { type: 'string' } },
  });
  if (positionals[0] !== 'fashion-mnist' || values.class === undefined || !values.out) {
    throw new UsageError('dataset fashion-mnist --class N --out DIR');
  }
  const counts = await exportFashionMnist(num(values.class, 'class')!, resolve(values.out), {
    maxTest: num(values['max-test'], 'max-test'),
  });
  console.log(
    Object.entries(counts)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n'),
  );
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'train':
        await cmdTrain(rest);
        return 0;
      case 'eval':
        await cmdEval(rest);
        return 0;
      case 'score': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { model: { type: 'string' }, heatmap: { type: 'string' }, backend: { type: 'string' } },
        });
        if (!values.model || !positionals.length)
          throw new UsageError('score needs --model MODEL and at least one IMAGE');
        await header(values.backend);
        return await runScore(
          resolve(values.model),
          positionals,
          values.heatmap ? resolve(values.heatmap) : undefined,
        );
      }
      case 'dataset':
        await cmdDataset(rest);
        return 0;
      case 'demo': {
        const { values } = parseArgs({
          args: rest,
          options: { 'data-dir': { type: 'string', default: '.station' }, backend: { type: 'string' } },
        });
        const backend = await header(values.backend);
        console.log(
          `Anomaly Station demo: trains (once) and evaluates the demo model on the bundled sample (${DEMO_DATA}); \`npm start\` runs the live station.`,
        );
        await runDemo(backend, resolve(values['data-dir']));
        return 0;
      }
      case 'start': {
        const backend = await header(
          backendArg(rest),
          'browser (the station and UI served over HTTP + WebSocket)',
        );
        return await cmdStart(rest, backend);
      }
      case 'serve':
        await header(backendArg(rest));
        return await cmdServe(rest);
      case 'watch':
        await header(backendArg(rest));
        return await cmdWatch(rest);
      case 'export': {
        const { values } = parseArgs({
          args: rest,
          options: { model: { type: 'string' }, onnx: { type: 'string' }, backend: { type: 'string' } },
        });
        if (!values.model || !values.onnx) throw new UsageError('export needs --model MODEL and --onnx FILE');
        await header(values.backend);
        return await runExport(resolve(values.model), resolve(values.onnx));
      }
      case 'verify-audit':
        return await cmdVerifyAudit(rest);
      case 'report':
        return await cmdReport(rest);
      case 'backend':
        await header(parseArgs({ args: rest, options: { backend: { type: 'string' } } }).values.backend);
        return 0;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`station: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`station: ${e instanceof ImageError ? `${e.file}: ` : ''}${(e as Error).message}`);
    if (process.env.STATION_DEBUG) console.error(e);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('cli/index.ts')) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
