// `station`: the command line of Anomaly Station. Every run first says which ML backend and shell it got.
// Each command is an option table (args.ts) and a function: `station --help` lists the commands,
// `station <command> --help` prints that command's options, and a mistyped option gets one line with a
// "did you mean". The station core's commands live in station-commands.ts, the report in report-command.ts,
// the demo station in demo-station.ts.
import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { ModelMeta } from '../../ml';
import {
  describeBackend,
  DEFAULT_METHOD,
  METHODS,
  FEATURE_METHODS,
  DEFAULT_WORKING_SIZE,
  DEFAULT_SCALE,
  PATCH_STATISTICS,
  selectBackend,
  SUPPORTED_SIZES,
} from '../../ml';
import { ImageError } from '../io/images';
import { Progress } from './progress';
import { runExport, runScore } from './score-command';
import { trainModel } from '../tasks/train-model';
import { evaluateModel } from '../tasks/evaluate';
import { formatEvalTable } from './format';
import { runDemo } from './demo';
import { exportFashionMnist } from '../tasks/fashion-mnist';
import { loadModel } from '../io/model-store';
import { chooseEngine } from '../station/engine-choice';
import { START, cmdStart } from './demo-station';
import { cmdServe, cmdVerifyAudit, cmdWatch, ENGINES, SERVE, VERIFY_AUDIT, WATCH } from './station-commands';
import { cmdReport, REPORT } from './report-command';
import { cmdLineage, cmdUpdateModel, LINEAGE, UPDATE_MODEL } from './lineage-commands';
import {
  choiceOption,
  commandUsage,
  GLOBAL_OPTIONS,
  numberOption,
  parseCommand,
  suggest,
  UsageError,
  type CommandSpec,
  type OptionTable,
  type Parsed,
} from './args';

async function header(backendFlag?: string, shell = 'cli') {
  const status = await selectBackend(backendFlag);
  console.error(`${describeBackend(status)}\nshell: ${shell} (node ${process.versions.node})`);
  return status;
}

const TRAIN = {
  name: 'train',
  summary: 'train a detector on good images; the threshold is calibrated on held-out good images',
  options: {
    data: {
      type: 'string',
      value: 'DIR',
      help: 'a folder of good images, or an MVTec-layout set (train/good)',
    },
    out: { type: 'string', value: 'MODEL', help: 'the model folder to write' },
    method: { type: 'string', value: METHODS.join('|'), default: DEFAULT_METHOD, help: 'the detector' },
    size: {
      type: 'string',
      value: 'PX',
      help: `GAN methods: the network input, ${SUPPORTED_SIZES.join('|')} (default 32); feature methods: the longest side images are judged at, at most (default ${DEFAULT_WORKING_SIZE}; 0 = no cap)`,
    },
    'backbone-onnx': {
      type: 'string',
      value: 'FILE',
      help: 'feature methods: your own backbone, an ONNX file (one NCHW float image in, any size; see README)',
    },
    'backbone-outputs': {
      type: 'string',
      value: 'A,B',
      help: 'with --backbone-onnx: the output names to tap, shallowest first',
    },
    'backbone-norm': {
      type: 'string',
      value: 'imagenet|unit|standardised',
      default: 'imagenet',
      help: 'with --backbone-onnx: how it wants pixels (imagenet: torchvision models)',
    },
    scale: {
      type: 'string',
      value: 'F',
      help: `feature methods: judge images at F x the camera's resolution (default ${DEFAULT_SCALE})`,
    },
    channels: { type: 'string', value: '1|3', default: '1', help: 'gray or colour' },
    epochs: { type: 'string', value: 'N', default: '15', help: 'training epochs (at most)' },
    batch: { type: 'string', value: 'N', default: '32', help: 'images per training step' },
    patch: {
      type: 'boolean',
      help: 'patch mode: train on crops at (near) native resolution, score by tiling',
    },
    'working-size': {
      type: 'string',
      value: 'PX',
      default: '0',
      help: 'patch mode: shrink images so the longer side is at most PX (0: native)',
    },
    stride: { type: 'string', value: 'PX', help: 'patch mode: tile stride when scoring (default size/2)' },
    statistic: {
      type: 'string',
      value: PATCH_STATISTICS.join('|'),
      help: 'patch mode: the image score (default map-max)',
    },
    'steps-per-epoch': { type: 'string', value: 'N', help: 'patch mode: training steps per epoch' },
    holdout: {
      type: 'string',
      value: 'F',
      default: '0.2',
      help: 'share of good images held out (half early stopping, half calibration)',
    },
    'false-alarm-rate': {
      type: 'string',
      value: 'F',
      default: '0.005',
      help: 'the calibrated threshold lets this share of held-out good images through as flags',
    },
    defects: {
      type: 'string',
      value: 'DIR',
      help: 'labelled defect images (never the test set): the threshold becomes the F1-optimal one',
    },
    patience: { type: 'string', value: 'N', default: '5', help: 'epochs without a better held-out loss' },
    limit: { type: 'string', value: 'N', help: 'train on at most N good images' },
    resume: { type: 'boolean', help: "continue from the last epoch's checkpoint in MODEL" },
    seed: { type: 'string', value: 'N', help: 'random seed' },
  },
  notes: ['Ctrl-C stops after the current step and keeps the checkpoint (continue with --resume).'],
} as const satisfies CommandSpec;

/** How a model takes images, in a few words. */
function describeInput(i: ModelMeta['input']): string {
  const channels = i.channels === 1 ? 'grey' : 'colour';
  if (i.mode === 'native')
    return `at ${i.scale ?? 1}x the camera's resolution (${channels}${i.size ? `, longer side at most ${i.size} px` : ''})`;
  return `${i.size}x${i.size}x${i.channels} (${i.mode})`;
}

async function cmdTrain({ values }: Parsed<typeof TRAIN.options>): Promise<number> {
  const num = (name: keyof typeof TRAIN.options) => numberOption(values[name] as string, name, 'train');
  if (!values.data || !values.out) throw new UsageError('train needs --data DIR and --out MODEL', 'train');
  const method = choiceOption(values.method, 'method', METHODS, 'train');
  const features = FEATURE_METHODS.includes(method);
  const size = num('size') ?? (features ? DEFAULT_WORKING_SIZE : 32);
  if (
    features ? !(Number.isInteger(size) && size >= 0) : !(SUPPORTED_SIZES as readonly number[]).includes(size)
  )
    throw new UsageError(
      features
        ? `--size for ${method} is the longest side in px (a whole number; 0 = native)`
        : `--size must be one of ${SUPPORTED_SIZES.join(', ')}`,
      'train',
    );
  const channels = num('channels');
  if (channels !== 1 && channels !== 3) throw new UsageError('--channels must be 1 or 3', 'train');
  const statistic =
    values.statistic === undefined
      ? undefined
      : choiceOption(values.statistic, 'statistic', PATCH_STATISTICS, 'train');
  // Every number is checked before anything runs.
  const n = {
    epochs: num('epochs')!,
    seed: num('seed'),
    scale: num('scale'),
    batch: num('batch'),
    workingSize: num('working-size')!,
    stride: num('stride'),
    stepsPerEpoch: num('steps-per-epoch'),
    holdout: num('holdout'),
    falseAlarmRate: num('false-alarm-rate'),
    patience: num('patience'),
    limit: num('limit'),
  };
  const backboneOnnx = values['backbone-onnx']
    ? {
        file: resolve(values['backbone-onnx']),
        outputs: (values['backbone-outputs'] ?? '').split(',').filter(Boolean),
        normalisation: choiceOption(
          values['backbone-norm'],
          'backbone-norm',
          ['imagenet', 'unit', 'standardised'] as const,
          'train',
        ),
      }
    : undefined;
  if (backboneOnnx && (!features || !backboneOnnx.outputs.length))
    throw new UsageError(
      features
        ? '--backbone-onnx needs --backbone-outputs A,B (the feature maps to tap)'
        : `--backbone-onnx is for the feature methods, not ${method}`,
      'train',
    );
  if (n.scale !== undefined && (!features || !(n.scale > 0 && n.scale <= 4)))
    throw new UsageError(
      features
        ? '--scale must be above 0 and at most 4'
        : `--scale is for the feature methods, not ${method}`,
      'train',
    );
  const backend = await header(values.backend);
  const progress = new Progress();
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
      method,
      size,
      channels,
      epochs: n.epochs,
      batchSize: n.batch,
      patch: values.patch
        ? {
            workingSize: n.workingSize,
            stride: n.stride,
            statistic,
            stepsPerEpoch: n.stepsPerEpoch,
          }
        : undefined,
      holdout: n.holdout,
      targetFalseAlarmRate: n.falseAlarmRate,
      defects: values.defects ? resolve(values.defects) : undefined,
      patience: n.patience,
      limit: n.limit,
      backboneOnnx,
      overrides: {
        ...(n.seed !== undefined ? { seed: n.seed } : {}),
        ...(n.scale !== undefined ? { scale: n.scale } : {}),
      },
      resume: values.resume,
      backend,
      onPhase: (phase, total) => progress.phase(phase, total),
      onWarning: (text) => {
        progress.done();
        console.error(`warning: ${text}`);
      },
      onLoadProgress: (done) => progress.update(done),
      onFitProgress: (p) => progress.fit(p),
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
  // Again under the result: its threshold line names the target the warning is about.
  for (const w of r.warnings) console.error(`warning: ${w}`);
  const m = r.meta;
  console.log(
    `trained ${m.method} ${describeInput(m.input)} on ${m.training!.images} images in ` +
      `${m.training!.seconds.toFixed(0)} s; ${m.input.mode === 'native' ? 'fitted in one pass' : `epochs ${m.training!.epochs} (best ${m.training!.bestEpoch}${r.result.stoppedEarly ? ', stopped early' : ''})`}; ` +
      `threshold ${m.calibration!.threshold.toPrecision(5)} (${
        m.calibration!.method === 'f1'
          ? `F1-optimal on ${m.calibration!.goodStats.n} held-out good and ${m.calibration!.defectCount} labelled defect images`
          : `target ${(m.calibration!.targetFalseAlarmRate * 100).toFixed(2)}% false alarms, set on ${m.calibration!.goodStats.n} held-out good images${
              m.calibration!.goodStats.n * m.calibration!.targetFalseAlarmRate < 1
                ? ': too few to confirm that rate, see the warning'
                : ''
            }`
      })\nmodel: ${values.out}`,
  );
  return 0;
}

const EVAL = {
  name: 'eval',
  summary:
    'evaluate a model on a labelled MVTec-layout folder: image AUROC/AUPRC, F1 at the threshold, pixel AUROC',
  options: {
    data: {
      type: 'string',
      value: 'MVTEC_DIR',
      help: 'the labelled set (test/good, test/<defect>, ground_truth)',
    },
    model: { type: 'string', value: 'MODEL', help: 'the model folder' },
    json: { type: 'string', value: 'FILE', help: 'also write the full report as JSON' },
    'no-pixel': { type: 'boolean', help: 'skip pixel AUROC' },
    'max-per-type': { type: 'string', value: 'N', help: 'at most N images per defect type' },
    engine: { type: 'string', value: ENGINES.join('|'), default: 'auto', help: 'the scoring engine' },
  },
} as const satisfies CommandSpec;

async function cmdEval({ values }: Parsed<typeof EVAL.options>): Promise<number> {
  if (!values.data || !values.model)
    throw new UsageError('eval needs --data MVTEC_DIR and --model MODEL', 'eval');
  const enginePreference = choiceOption(values.engine, 'engine', ENGINES, 'eval');
  const maxPerType = numberOption(values['max-per-type'], 'max-per-type', 'eval');
  const backend = await header(values.backend);
  const model = await loadModel(resolve(values.model));
  const choice = await chooseEngine(resolve(values.model), model, enginePreference, 1);
  console.error(`scoring engine: ${choice.engine.description} (${choice.reason})`);
  const progress = new Progress();
  try {
    const r = await evaluateModel(model, basename(resolve(values.model)), resolve(values.data), {
      backend: backend.name,
      pixel: !values['no-pixel'],
      maxPerType,
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
  return 0;
}

const SCORE = {
  name: 'score',
  args: 'IMAGE...',
  summary:
    'score images: raw score, normalised score (threshold = 0.5), verdict; heatmap (+ reconstruction) PNGs',
  options: {
    model: { type: 'string', value: 'MODEL', help: 'the model folder' },
    heatmap: {
      type: 'string',
      value: 'OUT_DIR',
      help: 'write <image>.heatmap.png, and <image>.reconstruction.png where the model has one',
    },
  },
} as const satisfies CommandSpec;

async function cmdScore({ values, positionals }: Parsed<typeof SCORE.options>): Promise<number> {
  if (!values.model || !positionals.length)
    throw new UsageError('score needs --model MODEL and at least one IMAGE', 'score');
  await header(values.backend);
  return runScore(resolve(values.model), positionals, values.heatmap ? resolve(values.heatmap) : undefined);
}

const DATASET = {
  name: 'dataset',
  args: 'fashion-mnist',
  summary: "Fashion-MNIST (Debian's dataset-fashion-mnist) as an MVTec-layout one-class set",
  options: {
    class: { type: 'string', value: 'N', help: 'the good class (0-9); the other classes are the defects' },
    out: { type: 'string', value: 'DIR', help: 'the folder to write' },
    'max-test': { type: 'string', value: 'N', help: 'at most N test images per class' },
  },
} as const satisfies CommandSpec;

async function cmdDataset({ values, positionals }: Parsed<typeof DATASET.options>): Promise<number> {
  if (
    positionals[0] !== 'fashion-mnist' ||
    positionals.length !== 1 ||
    values.class === undefined ||
    !values.out
  )
    throw new UsageError('dataset needs fashion-mnist --class N --out DIR', 'dataset');
  const counts = await exportFashionMnist(
    numberOption(values.class, 'class', 'dataset')!,
    resolve(values.out),
    {
      maxTest: numberOption(values['max-test'], 'max-test', 'dataset'),
    },
  );
  console.log(
    Object.entries(counts)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n'),
  );
  return 0;
}

const DEMO = {
  name: 'demo',
  summary: 'train (once) and evaluate the demo model on the bundled DeepPCB sample, write heatmaps',
  options: {
    'data-dir': { type: 'string', value: 'DIR', default: '.station', help: 'where the model is kept' },
  },
} as const satisfies CommandSpec;

async function cmdDemo({ values }: Parsed<typeof DEMO.options>): Promise<number> {
  const backend = await header(values.backend);
  console.log(
    'Anomaly Station demo: makes the synthetic demo parts and trains (once) and evaluates the demo model on them, in the data dir; `npm start` runs the live station.',
  );
  await runDemo(backend, resolve(values['data-dir']));
  return 0;
}

const EXPORT = {
  name: 'export',
  summary: "write the model's ONNX graph and check it against tfjs",
  options: {
    model: { type: 'string', value: 'MODEL', help: 'the model folder' },
    onnx: { type: 'string', value: 'FILE', help: 'the .onnx file to write' },
  },
} as const satisfies CommandSpec;

async function cmdExport({ values }: Parsed<typeof EXPORT.options>): Promise<number> {
  if (!values.model || !values.onnx)
    throw new UsageError('export needs --model MODEL and --onnx FILE', 'export');
  await header(values.backend);
  return runExport(resolve(values.model), resolve(values.onnx));
}

const BACKEND = {
  name: 'backend',
  summary: 'print the ML backend this machine gets, and why not a faster one',
  options: {},
} as const satisfies CommandSpec;

interface Command {
  spec: CommandSpec;
  /** Parse argv against the spec and run; --help prints the spec's usage instead. */
  invoke(argv: string[]): Promise<number>;
}

function command<O extends OptionTable>(
  spec: CommandSpec<O>,
  run: (parsed: Parsed<O>) => Promise<number>,
): Command {
  return {
    spec,
    async invoke(argv) {
      const parsed = parseCommand(spec, argv);
      if (parsed.help) {
        console.log(commandUsage(spec));
        return 0;
      }
      return run(parsed);
    },
  };
}

/** Every command, in the order `station --help` lists them. */
const COMMANDS: Command[] = [
  command(TRAIN, cmdTrain),
  command(EVAL, cmdEval),
  command(SCORE, cmdScore),
  command(DATASET, cmdDataset),
  command(START, async (p) =>
    cmdStart(
      p.values,
      await header(p.values.backend, 'browser (the station and UI served over HTTP + WebSocket)'),
    ),
  ),
  command(DEMO, cmdDemo),
  command(SERVE, (p) => cmdServe(p.values, () => header(p.values.backend))),
  command(WATCH, (p) => cmdWatch(p, () => header(p.values.backend))),
  command(VERIFY_AUDIT, async (p) => cmdVerifyAudit(p.values)),
  command(REPORT, async (p) => cmdReport(p.values)),
  command(UPDATE_MODEL, async (p) => (await header(p.values.backend), cmdUpdateModel(p.values))),
  command(LINEAGE, async (p) => cmdLineage(p.values)),
  command(EXPORT, cmdExport),
  command(BACKEND, async (p) => (await header(p.values.backend), 0)),
];

export const USAGE = [
  'station <command> [options]',
  '',
  'commands:',
  ...COMMANDS.map(({ spec }) => `  ${spec.name.padEnd(13)} ${spec.summary}`),
  '',
  'global options:',
  ...Object.entries(GLOBAL_OPTIONS).map(([name, o]) => `  --${name} ${o.value}  ${o.help}`),
  '  -h, --help    print the usage (after a command: its options) and exit',
  '',
  '`station <command> --help` lists the options of a command.',
].join('\n');

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      console.error(USAGE);
      return 2;
    }
    if (name === '-h' || name === '--help' || name === 'help') {
      const about = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.spec.name === rest[0]);
      if (rest[0] !== undefined && !about) throw unknownCommand(rest[0]);
      console.log(about ? commandUsage(about.spec) : USAGE);
      return 0;
    }
    const cmd = COMMANDS.find((c) => c.spec.name === name);
    if (!cmd) throw unknownCommand(name);
    return await cmd.invoke(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      const where = e.command ? `station ${e.command}` : 'station';
      console.error(
        `${where}: ${e.message} (${where} --help lists ${e.command ? 'its options' : 'the commands'})`,
      );
      return 2;
    }
    console.error(`station: ${e instanceof ImageError ? `${e.file}: ` : ''}${(e as Error).message}`);
    if (process.env.STATION_DEBUG) console.error(e);
    return 1;
  }
}

function unknownCommand(name: string): UsageError {
  const near = suggest(
    name,
    COMMANDS.map((c) => c.spec.name),
  );
  return new UsageError(`unknown command "${name}"${near ? `; did you mean ${near}?` : ''}`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('cli/index.ts')) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
