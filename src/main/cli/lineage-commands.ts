// `station update-model` (a child of a line's model from operators' false alarms: the selection, the update
// with progress, the comparison of parent and child; optionally activated) and `station lineage` (a model's
// chain back to the model trained from a folder, and the lineage chain's verification). Both work on the data
// dir's database and files directly, like `station report`; a running station picks up an activation made here
// when it restarts.
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { ModelComparison, ModelUpdate, UpdatePreview } from '../../common/api';
import { DEFAULT_MAX_BANK_GROWTH, lineageSentence, lineageTime, namesList } from '../../common/lineage';
import { ArtifactStore } from '../station/artifacts';
import { openDatabase, type StationDatabase } from '../station/database';
import { ModelUpdates } from '../station/lineage/updates';
import { resolveLine } from './report-command';
import { Progress } from './progress';
import { numberOption, UsageError, type CommandSpec, type OptionValues } from './args';

const DATA_DIR = {
  type: 'string',
  value: 'DIR',
  default: '.station',
  help: "the station's data folder",
} as const;

export const UPDATE_MODEL = {
  name: 'update-model',
  summary:
    "a child of a line's model from operators' false alarms; prints parent vs child and writes the child",
  options: {
    line: {
      type: 'string',
      value: 'NAME|ID',
      help: 'the line whose model is updated (its model is the parent)',
    },
    from: { type: 'string', value: 'ISO', help: 'false alarms scored from this time (default: the first)' },
    to: { type: 'string', value: 'ISO', help: 'up to this time, exclusive (default: now)' },
    out: { type: 'string', value: 'MODEL', help: 'the child model folder to write (must not exist)' },
    inspections: { type: 'string', value: 'ID,ID...', help: 'only these inspections (instead of a period)' },
    'include-disputed': {
      type: 'string',
      value: 'ID,ID...',
      help: 'images operators disagree on that you looked at and accept as good',
    },
    'max-bank-growth': {
      type: 'string',
      value: 'F',
      default: String(DEFAULT_MAX_BANK_GROWTH),
      help: 'memory banks: at most this share of the bank joins it in one update',
    },
    epochs: { type: 'string', value: 'N', default: '3', help: 'GAN methods: fine-tuning epochs' },
    by: { type: 'string', value: 'NAME', help: 'who asks for it, in the lineage (default: your user name)' },
    activate: {
      type: 'boolean',
      help: 'put the child on the line at once (recorded; a running station uses it after a restart)',
    },
    'data-dir': DATA_DIR,
  },
  notes: [
    'Only false alarms join the child: confirmed defects never do, and images operators disagree on are listed',
    'for you (add them with --include-disputed after looking). Undo: station update-model is never needed for it;',
    're-activate the parent in the Models view.',
  ],
} as const satisfies CommandSpec;

export const LINEAGE = {
  name: 'lineage',
  summary: "a model's chain back to the model trained from a folder, and the lineage's verification",
  options: {
    model: { type: 'string', value: 'MODEL', help: 'the model: its folder, registry id or name' },
    'data-dir': DATA_DIR,
  },
} as const satisfies CommandSpec;

function openStation(dataDir: string): StationDatabase {
  const file = join(dataDir, 'station.db');
  if (!existsSync(file)) throw new Error(`no station database at ${file}`);
  return openDatabase(file);
}

const ids = (v: string | undefined, name: string): number[] | undefined => {
  if (v === undefined) return undefined;
  const list = v.split(',').map((x) => x.trim());
  if (!list.every((x) => /^\d+$/.test(x) && Number(x) > 0))
    throw new UsageError(`--${name} takes inspection ids separated by commas (got "${v}")`, 'update-model');
  return list.map(Number);
};

const isoOption = (v: string | undefined, name: string): string | undefined => {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new UsageError(`--${name} must be a date or time, e.g. 2026-03-01 (got "${v}")`, 'update-model');
  return new Date(t).toISOString();
};

export function formatPreview(p: UpdatePreview): string {
  const out = [
    `line ${p.lineName}: parent ${p.parent ? `${p.parent.name} (${p.parent.method}, version ${p.parent.version})` : 'none'}` +
      `; ${p.method === 'bank-extend' ? 'its memory bank grows' : 'it is fine-tuned'}`,
    `false alarms: ${p.added} to add, ${p.heldOut} held out to calibrate and check the child` +
      (p.reviewers.length
        ? `; reviewed by ${namesList(p.reviewers)} between ${lineageTime(p.decidedFrom)} and ${lineageTime(p.decidedTo)}`
        : ''),
    `checked on: ${p.confirmedDefects} confirmed defects of the line, ${p.passedParts} passed parts of the period`,
  ];
  if (p.disputed.length) {
    out.push(`disputed (operators disagree; not added unless you pass --include-disputed):`);
    for (const d of p.disputed)
      out.push(
        `  #${d.inspectionId} ${d.included ? '(included) ' : ''}${d.filePath}: ` +
          d.decisions.map((x) => `${x.operator} ${x.decision.replace('_', ' ')}`).join(', '),
      );
  }
  if (p.excluded.length) {
    out.push('left out:');
    for (const e of p.excluded.slice(0, 20)) out.push(`  #${e.inspectionId}: ${e.reason}`);
    if (p.excluded.length > 20) out.push(`  ... and ${p.excluded.length - 20} more`);
  }
  return out.join('\n');
}

const pct = (n: number, of: number) => (of ? `${((100 * n) / of).toFixed(1)}%` : '-');

/** Parent and child side by side, as the engineer reads them before activating the child. */
export function formatComparison(c: ModelComparison): string {
  const rows: [string, (s: ModelComparison['parent']) => string][] = [
    ['threshold (raw score)', (s) => s.threshold.toPrecision(4)],
    [
      `past false alarms passed (of ${c.falseAlarms})`,
      (s) => `${s.falseAlarmsPassed} (${pct(s.falseAlarmsPassed, c.falseAlarms)})`,
    ],
    [
      `  held out, never added (of ${c.heldOutFalseAlarms})`,
      (s) => `${s.heldOutFalseAlarmsPassed} (${pct(s.heldOutFalseAlarmsPassed, c.heldOutFalseAlarms)})`,
    ],
    [
      `confirmed defects flagged (of ${c.defects})`,
      (s) => `${s.defectsFlagged} (recall ${pct(s.defectsFlagged, c.defects)})`,
    ],
    [
      `held-out good flagged (of ${c.heldOutGood})`,
      (s) => `${s.heldOutGoodFlagged} (${pct(s.heldOutGoodFlagged, c.heldOutGood)})`,
    ],
    [
      `passed parts it would flag (of ${c.passedParts})`,
      (s) => `${s.passedPartsFlagged} (${pct(s.passedPartsFlagged, c.passedParts)})`,
    ],
  ];
  const w = Math.max(...rows.map(([l]) => l.length));
  const col = Math.max(c.parent.name.length, 24);
  const lines = [
    `${''.padEnd(w)}  ${`parent ${c.parent.name}`.padEnd(col + 7)}  child ${c.child.name}`,
    ...rows.map(([label, f]) => `${label.padEnd(w)}  ${f(c.parent).padEnd(col + 7)}  ${f(c.child)}`),
  ];
  if (c.heldOutGoodFromParentScores)
    lines.push(
      `(${c.heldOutGoodFromParentScores} held-out good scores are the parent's kept ones: its images could not be read; the child's own are lower)`,
    );
  return lines.join('\n');
}

export async function cmdUpdateModel(
  values: OptionValues<typeof UPDATE_MODEL.options> & { backend?: string },
): Promise<number> {
  if (!values.line || !values.out)
    throw new UsageError('update-model needs --line NAME|ID and --out MODEL', 'update-model');
  const growth = numberOption(values['max-bank-growth'], 'max-bank-growth', 'update-model')!;
  if (!(growth > 0 && growth <= 1))
    throw new UsageError('--max-bank-growth must be in (0, 1]', 'update-model');
  const epochs = numberOption(values.epochs, 'epochs', 'update-model')!;
  if (!(Number.isInteger(epochs) && epochs >= 1))
    throw new UsageError('--epochs must be a whole number >= 1', 'update-model');
  const selection = {
    from: isoOption(values.from, 'from'),
    to: isoOption(values.to, 'to'),
    inspectionIds: ids(values.inspections, 'inspections'),
    includeDisputed: ids(values['include-disputed'], 'include-disputed'),
  };
  const out = resolve(values.out);
  if (existsSync(out)) throw new Error(`${out} already exists: a child model is always a new folder`);
  const dataDir = resolve(values['data-dir']);
  const db = openStation(dataDir);
  const progress = new Progress();
  let finished: (u: ModelUpdate) => void = () => undefined;
  const done = new Promise<ModelUpdate>((r) => (finished = r));
  let phase = '';
  const updates = new ModelUpdates({
    db,
    artifacts: new ArtifactStore(join(dataDir, 'images')),
    modelsDir: join(dataDir, 'models'),
    backend: values.backend,
    emit: (u) => {
      if (u.progress && u.progress.phase !== phase) {
        phase = u.progress.phase;
        progress.phase(phase, u.progress.total || undefined);
      }
      if (u.progress)
        progress.update(
          u.progress.done,
          u.progress.epoch ? `epoch ${u.progress.epoch}/${u.progress.epochs}` : '',
        );
      if (u.state !== 'running') finished(u);
    },
  });
  const stop = () => {
    const job = [...updates.list()].find((u) => u.state === 'running');
    if (job?.jobId) updates.cancel(job.jobId);
  };
  process.once('SIGINT', stop);
  try {
    const lineId = resolveLine(db, values.line);
    const preview = updates.preview({ lineId, ...selection });
    console.log(formatPreview(preview));
    if (preview.blocked) {
      console.log(`nothing made: ${preview.blocked}`);
      return 1;
    }
    const by = values.by ?? userInfo().username;
    const started = await updates.start({ lineId, ...selection, maxBankGrowth: growth, epochs }, by, out);
    for (const w of started.warnings) console.error(`warning: ${w}`);
    const u = await done;
    progress.done();
    if (u.state !== 'ready') {
      console.log(`update ${u.state}${u.error ? `: ${u.error}` : ''}`);
      return 1;
    }
    for (const w of u.warnings) console.error(`warning: ${w}`);
    console.log('');
    console.log(formatComparison(u.comparison!));
    if (u.bank)
      console.log(`memory bank: ${u.bank.rowsBefore} rows + ${u.bank.rowsAdded} (cap ${u.bank.cap})`);
    if (u.epochs) console.log(`fine-tuned for ${u.epochs} epochs`);
    console.log(
      `wrote ${out}: model #${u.childId}, a child of ${u.parentName} (lineage record #${u.lineageId})`,
    );
    if (values.activate) {
      updates.activate({ lineId, modelId: u.childId! }, by);
      console.log(
        `activated on ${u.lineName} (a running station uses it after a restart); undo: re-activate ${u.parentName}`,
      );
    }
    return 0;
  } finally {
    process.off('SIGINT', stop);
    progress.done();
    await updates.close();
    db.close();
  }
}

export async function cmdLineage(values: OptionValues<typeof LINEAGE.options>): Promise<number> {
  if (!values.model) throw new UsageError('lineage needs --model MODEL', 'lineage');
  const dataDir = resolve(values['data-dir']);
  const db = openStation(dataDir);
  try {
    const models = db.listModels();
    const arg = values.model;
    const model =
      models.find((m) => m.folder === resolve(arg)) ??
      (/^\d+$/.test(arg) ? models.find((m) => m.id === Number(arg)) : undefined) ??
      models.find((m) => m.name === arg);
    if (!model) throw new Error(`no registered model "${arg}" (a folder, an id or a name)`);
    const updates = new ModelUpdates({
      db,
      artifacts: new ArtifactStore(join(dataDir, 'images')),
      modelsDir: join(dataDir, 'models'),
      emit: () => undefined,
    });
    const l = updates.lineageOf(model.id);
    console.log(`${model.name} (model #${model.id}, version ${model.version}): generation ${l.generation}`);
    for (const e of l.chain) {
      console.log(`  ${lineageSentence(e)}`);
      const roles = (r: string) => e.images.filter((i) => i.role === r).length;
      console.log(
        `    images: ${roles('added')} added, ${roles('held-out')} held out, ${roles('disputed')} disputed, ` +
          `${roles('excluded')} left out (lineage record #${e.recordId})`,
      );
    }
    console.log(
      `  ${l.root.name} (generation 1, version ${l.root.version.slice(0, 8)}) trained on ${l.root.dataDir ?? 'an unrecorded folder'}`,
    );
    for (const e of l.events.filter((x) => x.kind !== 'created')) console.log(`  ${lineageSentence(e)}`);
    const a = l.audit;
    console.log(
      a.ok
        ? `model lineage OK: ${a.count} records, head ${a.headHash ?? '(empty)'}`
        : `model lineage BROKEN at record ${a.firstBadId}: ${a.reason}`,
    );
    return a.ok ? 0 : 1;
  } finally {
    db.close();
  }
}
