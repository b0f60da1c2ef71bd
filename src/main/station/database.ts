// The one module that talks to the station's SQLite database (better-sqlite3): opening and tuning the
// connection, schema migrations, and typed, prepared queries for the station services and the UI.
//
// Conventions:
// - Station times are UTC ISO-8601 strings with milliseconds, always exactly `YYYY-MM-DDTHH:MM:SS.sssZ`
//   (Date#toISOString). Fixed width, so text order is time order and period queries use plain indexes;
//   readable as-is in any SQLite tool and in exported reports. CHECK constraints refuse any other shape.
//   The one epoch-ms number, inspections.file_mtime_ms, is the camera file's mtime: part of the file's
//   identity for dedupe, not a station time.
// - Column names are snake_case in SQL and camelCase in the exported row types.
// - Every write runs in an IMMEDIATE transaction (or is a single statement, which SQLite runs as one):
//   taking the write lock up front lets busy_timeout wait for another connection instead of failing
//   half-way when a read transaction tries to become a write one.
// - decisions is append-only and hash-chained (audit-chain.ts); inspections carries a trigger-maintained
//   copy of each image's latest decision so the review queue and decision filters are index lookups.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Calibration, ModelMeta } from '../../ml';
import {
  decisionHash,
  GENESIS_HASH,
  verifyChain,
  type ChainedDecision,
  type ChainVerification,
} from './audit-chain';
import { OUTPUTS_MIGRATION } from './outputs/outbox-schema';
import { NORMALISED_SCORE_MIGRATION } from './normalised-score';
import { LINEAGE_MIGRATION } from './lineage/schema';

export type { ChainVerification } from './audit-chain';

// ---------------------------------------------------------------------------------------------------
// Row types (shared with the rest of the station and the UI)

export type Verdict = 'pass' | 'flag' | 'error';
export type DecisionValue = 'defect' | 'false_alarm';
/** 'unreviewed' = no decision recorded yet (combine with verdict 'flag' for the review queue). */
export type DecisionState = 'unreviewed' | DecisionValue;
export type LineState = 'active' | 'paused';
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
/** A time as accepted by the methods: ISO string (no offset = local time, JS rules), epoch ms or Date. */
export type TimeInput = string | number | Date;

export const VERDICTS: readonly Verdict[] = ['pass', 'flag', 'error'];
export const DECISIONS: readonly DecisionValue[] = ['defect', 'false_alarm'];

export interface ModelRow {
  id: number;
  name: string;
  folder: string;
  method: string;
  /** Content hash of meta.json unless the caller named one: a recalibrated model is a new version. */
  version: string;
  /** When the model was trained (meta.createdAt). */
  createdAt: string;
  meta: ModelMeta;
  dataHash: string | null;
  threshold: number | null;
  calibration: Calibration | null;
  registeredAt: string;
}

export interface LineRow {
  id: number;
  name: string;
  folder: string;
  modelId: number | null;
  thresholdOverride: number | null;
  recursive: boolean;
  state: LineState;
  createdAt: string;
  updatedAt: string;
  /** Soft delete: a removed line keeps its id so old inspections keep their line. */
  removedAt: string | null;
}

/** One change of the model (or threshold override) in force on a line. */
export interface LineModelHistoryRow {
  id: number;
  lineId: number;
  modelId: number | null;
  thresholdOverride: number | null;
  activatedAt: string;
}

/** What the inspector hands over for one image; the database adds the id and the review state. */
export interface NewInspection {
  lineId: number;
  modelId: number | null;
  modelVersion: string | null;
  filePath: string;
  fileSize: number;
  /** Whole epoch milliseconds (fractions are dropped, the same way on insert and on lookup). */
  fileMtimeMs: number;
  sha256: string | null;
  receivedAt: TimeInput;
  scoredAt: TimeInput;
  decodeMs?: number | null;
  scoreMs?: number | null;
  rawScore?: number | null;
  /** Calibrated score in [0, 1], threshold at 0.5. */
  normalizedScore?: number | null;
  /** Raw-score threshold in force when the image was judged. */
  threshold?: number | null;
  verdict: Verdict;
  errorText?: string | null;
  /** Artifact keys: content hashes of the PNGs in the artifact store (original = the decoded camera image). */
  originalKey?: string | null;
  heatmapKey?: string | null;
  reconstructionKey?: string | null;
  thumbnailKey?: string | null;
  overlayKey?: string | null;
  engine?: string | null;
}

export interface InspectionRow {
  id: number;
  lineId: number;
  modelId: number | null;
  modelVersion: string | null;
  filePath: string;
  fileSize: number;
  fileMtimeMs: number;
  sha256: string | null;
  receivedAt: string;
  scoredAt: string;
  decodeMs: number | null;
  scoreMs: number | null;
  rawScore: number | null;
  normalizedScore: number | null;
  threshold: number | null;
  verdict: Verdict;
  errorText: string | null;
  originalKey: string | null;
  heatmapKey: string | null;
  reconstructionKey: string | null;
  thumbnailKey: string | null;
  overlayKey: string | null;
  engine: string | null;
  /** The latest decision's value (null: none yet). Maintained by a trigger on decisions. */
  decision: DecisionValue | null;
  decisionCount: number;
  lastDecisionId: number | null;
}

/** A row for reports: the inspection with its latest decision (who, when, why). */
export interface InspectionWithDecision extends InspectionRow {
  latestDecision: DecisionRow | null;
}

export interface DecisionRow {
  id: number;
  inspectionId: number;
  decision: DecisionValue;
  operator: string;
  comment: string | null;
  decidedAt: string;
  /** What the operator saw, copied from the inspection so the hash seals it. */
  modelVersion: string | null;
  threshold: number | null;
  /** Set on a correction: the decision it replaces (always the one that was latest). */
  correctsDecisionId: number | null;
  prevHash: string;
  hash: string;
}

export interface NewDecision {
  inspectionId: number;
  decision: DecisionValue;
  operator: string;
  comment?: string | null;
  /** Required once the inspection has a decision: the id of that (latest) decision. */
  correctsDecisionId?: number | null;
  /** Defaults to now; for imports and tests. */
  decidedAt?: TimeInput;
}

export interface TrainingJobRow {
  id: number;
  state: JobState;
  settings: unknown;
  dataFolder: string;
  outputFolder: string;
  progress: unknown;
  error: string | null;
  modelId: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface OperatorRow {
  id: number;
  name: string;
  badge: string | null;
  createdAt: string;
}

export interface InspectionFilters {
  lineId?: number;
  /** scored_at >= from */
  from?: TimeInput;
  /** scored_at < to (half-open, so consecutive periods never overlap) */
  to?: TimeInput;
  verdict?: Verdict | readonly Verdict[];
  decision?: DecisionState;
  /** Range on the normalised score, inclusive. */
  minScore?: number;
  maxScore?: number;
  /**
   * Only rows with id <= maxId: a snapshot (lastInspectionId), so the several queries of one report see
   * the same rows while the station keeps inserting.
   */
  maxId?: number;
}

export interface PageOptions {
  /** 1..1000, default 100. */
  limit?: number;
  /** nextCursor of the previous page. */
  cursor?: string | null;
  /** By (scored_at, id); default 'desc' (newest first). */
  order?: 'asc' | 'desc';
}

export interface InspectionPage {
  rows: InspectionRow[];
  /** null on the last page. */
  nextCursor: string | null;
}

export interface LineStats {
  total: number;
  pass: number;
  flag: number;
  error: number;
  /** Latest decisions (on any verdict: a defect on a 'pass' is a missed defect). */
  defect: number;
  falseAlarm: number;
  /** Flags without a decision. */
  unreviewed: number;
}

/** One group of periodThresholds: the threshold a model judged a line's images by, and how many. */
export interface PeriodThresholdRow {
  modelId: number | null;
  lineId: number;
  threshold: number | null;
  n: number;
  /** scored_at of the first and last image judged by it in the period. */
  first: string;
  last: string;
}

/** One group of periodCounts: a line's inspections on one UTC day by one model, verdict and latest decision. */
export interface PeriodCountRow {
  lineId: number;
  /** YYYY-MM-DD, the UTC date of scored_at. */
  day: string;
  modelId: number | null;
  verdict: Verdict;
  decision: DecisionValue | null;
  n: number;
}

/** The queries whose plans the UI depends on, for `queryPlan` (tests and diagnostics). */
export type PlannedQuery =
  | { kind: 'latestInspections'; lineId: number }
  | { kind: 'unreviewedFlags' }
  | { kind: 'queryInspections'; filters: InspectionFilters; page?: PageOptions }
  | { kind: 'iterateInspections'; filters: InspectionFilters }
  | { kind: 'lineStats'; lineId: number }
  | { kind: 'scoredPerTenSeconds' }
  | { kind: 'periodThresholds'; filters: InspectionFilters };

/** insertInspection for a file this line already scored (same path, size and mtime). */
export class DuplicateInspectionError extends Error {
  constructor(readonly existingId: number) {
    super(`this file was already inspected (inspection #${existingId})`);
    this.name = 'DuplicateInspectionError';
  }
}

/** appendDecision based on a stale view: someone else decided on the image meanwhile. */
export class DecisionConflictError extends Error {
  constructor(
    message: string,
    readonly latestDecisionId: number | null,
  ) {
    super(message);
    this.name = 'DecisionConflictError';
  }
}

// ---------------------------------------------------------------------------------------------------
// Migrations. The version lives in PRAGMA user_version; each migration runs in its own transaction.
// Never edit a shipped migration: databases in the field already ran it. A schema change is one more
// entry at the end. One that rebuilds a table (SQLite's create-copy-drop-rename) may do so: foreign
// keys are off while migrating and checked before each migration commits.

export interface Migration {
  version: number;
  name: string;
  up: string | ((db: Database.Database) => void);
}

/** Frozen for shipped migrations: the shape every station time column must have. */
const iso = (col: string): string =>
  `CHECK (${col} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z')`;

/** 'ANST': marks the file as a station database, so we never migrate someone else's SQLite file. */
const APPLICATION_ID = 0x414e5354;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'core tables; decisions append-only',
    up: `
      PRAGMA application_id = ${APPLICATION_ID};

      CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        folder TEXT NOT NULL,
        method TEXT NOT NULL,
        version TEXT NOT NULL,
        created_at TEXT NOT NULL ${iso('created_at')},
        meta_json TEXT NOT NULL CHECK (json_valid(meta_json)),
        data_hash TEXT,
        threshold REAL,
        calibration_json TEXT CHECK (calibration_json IS NULL OR json_valid(calibration_json)),
        registered_at TEXT NOT NULL ${iso('registered_at')},
        UNIQUE (folder, version)
      ) STRICT;

      CREATE TABLE lines (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL CHECK (length(trim(name)) > 0),
        folder TEXT NOT NULL,
        model_id INTEGER REFERENCES models (id),
        threshold_override REAL,
        recursive INTEGER NOT NULL DEFAULT 0 CHECK (recursive IN (0, 1)),
        state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused')),
        created_at TEXT NOT NULL ${iso('created_at')},
        updated_at TEXT NOT NULL ${iso('updated_at')},
        removed_at TEXT ${iso('removed_at')}
      ) STRICT;
      -- Two live lines on one folder would score every image twice.
      CREATE UNIQUE INDEX lines_live_name ON lines (name) WHERE removed_at IS NULL;
      CREATE UNIQUE INDEX lines_live_folder ON lines (folder) WHERE removed_at IS NULL;

      CREATE TABLE line_model_history (
        id INTEGER PRIMARY KEY,
        line_id INTEGER NOT NULL REFERENCES lines (id),
        model_id INTEGER REFERENCES models (id),
        threshold_override REAL,
        activated_at TEXT NOT NULL ${iso('activated_at')}
      ) STRICT;
      CREATE INDEX line_model_history_line ON line_model_history (line_id, activated_at);

      CREATE TABLE inspections (
        id INTEGER PRIMARY KEY,
        line_id INTEGER NOT NULL REFERENCES lines (id),
        model_id INTEGER REFERENCES models (id),
        model_version TEXT,
        file_path TEXT NOT NULL,
        file_size INTEGER NOT NULL,
        file_mtime_ms INTEGER NOT NULL,
        sha256 TEXT,
        received_at TEXT NOT NULL ${iso('received_at')},
        scored_at TEXT NOT NULL ${iso('scored_at')},
        decode_ms REAL,
        score_ms REAL,
        raw_score REAL,
        normalized_score REAL,
        threshold REAL,
        verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'flag', 'error')),
        error_text TEXT,
        original_key TEXT,
        heatmap_key TEXT,
        reconstruction_key TEXT,
        thumbnail_key TEXT,
        overlay_key TEXT,
        engine TEXT,
        CHECK (verdict <> 'error' OR error_text IS NOT NULL),
        CHECK (verdict = 'error' OR (raw_score IS NOT NULL AND threshold IS NOT NULL)),
        -- The same file is never scored twice; a changed file (new size or mtime) is.
        UNIQUE (line_id, file_path, file_size, file_mtime_ms)
      ) STRICT;

      CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        inspection_id INTEGER NOT NULL REFERENCES inspections (id),
        decision TEXT NOT NULL CHECK (decision IN ('defect', 'false_alarm')),
        operator TEXT NOT NULL CHECK (length(trim(operator)) > 0),
        comment TEXT,
        decided_at TEXT NOT NULL ${iso('decided_at')},
        model_version TEXT,
        threshold REAL,
        corrects_decision_id INTEGER REFERENCES decisions (id),
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
      ) STRICT;
      CREATE INDEX decisions_inspection ON decisions (inspection_id, id);
      CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
      BEGIN
        SELECT RAISE(ABORT, 'decisions are append-only: a decision is never changed; append a correction instead');
      END;
      CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
      BEGIN
        SELECT RAISE(ABORT, 'decisions are append-only: a decision is never deleted; append a correction instead');
      END;

      CREATE TABLE training_jobs (
        id INTEGER PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
        settings_json TEXT NOT NULL CHECK (json_valid(settings_json)),
        data_folder TEXT NOT NULL,
        output_folder TEXT NOT NULL,
        progress_json TEXT CHECK (progress_json IS NULL OR json_valid(progress_json)),
        error TEXT,
        model_id INTEGER REFERENCES models (id),
        created_at TEXT NOT NULL ${iso('created_at')},
        started_at TEXT ${iso('started_at')},
        finished_at TEXT ${iso('finished_at')}
      ) STRICT;
      CREATE INDEX training_jobs_state ON training_jobs (state);
    `,
  },
  {
    version: 2,
    name: 'review state on inspections; indexes for the UI',
    // The review queue ("flags without a decision") and the decision filters would otherwise probe
    // decisions for every candidate row; a copy of the latest decision, kept by a trigger, makes the
    // queue a tiny partial index. Reports still read the decision itself (hash-chained) by id.
    up: `
      ALTER TABLE inspections ADD COLUMN decision TEXT CHECK (decision IN ('defect', 'false_alarm'));
      ALTER TABLE inspections ADD COLUMN decision_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE inspections ADD COLUMN last_decision_id INTEGER REFERENCES decisions (id);

      UPDATE inspections SET
        decision_count = (SELECT count(*) FROM decisions d WHERE d.inspection_id = inspections.id),
        last_decision_id = (SELECT max(d.id) FROM decisions d WHERE d.inspection_id = inspections.id)
      WHERE id IN (SELECT inspection_id FROM decisions);
      UPDATE inspections SET decision = (SELECT d.decision FROM decisions d WHERE d.id = inspections.last_decision_id)
      WHERE last_decision_id IS NOT NULL;

      CREATE TRIGGER decisions_review_state AFTER INSERT ON decisions
      BEGIN
        UPDATE inspections
        SET decision = NEW.decision, decision_count = decision_count + 1, last_decision_id = NEW.id
        WHERE id = NEW.inspection_id;
      END;

      -- Latest per line, line + period, line stats (rowid is the index's hidden last column, so
      -- ORDER BY scored_at, id needs no sort).
      CREATE INDEX inspections_line_time ON inspections (line_id, scored_at);
      -- Period across lines (reports, history).
      CREATE INDEX inspections_time ON inspections (scored_at);
      -- The review queue: only the rows in it.
      CREATE INDEX inspections_unreviewed ON inspections (id) WHERE verdict = 'flag' AND decision IS NULL;
    `,
  },
  {
    version: 3,
    name: 'operators',
    up: `
      CREATE TABLE operators (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
        badge TEXT,
        created_at TEXT NOT NULL ${iso('created_at')}
      ) STRICT;
      -- Everyone who already decided something becomes a known operator.
      INSERT INTO operators (name, created_at)
      SELECT operator, min(decided_at) FROM decisions GROUP BY operator ORDER BY min(decided_at);
    `,
  },
  // The plant outputs keep their tables in their own module (outputs/outbox-schema.ts).
  { version: 4, ...OUTPUTS_MIGRATION },
  { version: 5, ...NORMALISED_SCORE_MIGRATION },
  // Model lineage keeps its tables in its own module (lineage/schema.ts).
  { version: 6, ...LINEAGE_MIGRATION },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

MIGRATIONS.forEach((m, i) => {
  if (m.version !== i + 1) throw new Error(`migration "${m.name}" is number ${i + 1} but says ${m.version}`);
});

function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function refuseNewer(db: Database.Database, version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `station database ${db.name} has schema version ${version}, newer than this station understands ` +
        `(${SCHEMA_VERSION}): it was written by a newer Anomaly Station. Update the station; ` +
        `an older one cannot safely write to it.`,
    );
  }
}

/**
 * Bring a database up to `target` (default: the latest version). Exported so tests can build a
 * database at any earlier version. Refuses a database newer than this code and any SQLite file that
 * is not a station database.
 */
export function migrate(db: Database.Database, target = SCHEMA_VERSION): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw new Error(`${db.name} is an SQLite database of another application, not a station database`);
  }
  const start = userVersion(db);
  refuseNewer(db, start);
  if (start >= target) return;
  if (start === 0) {
    const tables = db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number };
    if (tables.n > 0)
      throw new Error(`${db.name} has tables but is not a station database; refusing to touch it`);
  }

  // PRAGMA foreign_keys is a no-op inside a transaction, so it is switched around the loop.
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    for (const m of MIGRATIONS.slice(start, target)) {
      db.transaction(() => {
        // Re-read under the write lock: another process may have migrated while we waited.
        const now = userVersion(db);
        refuseNewer(db, now);
        if (now >= m.version) return;
        if (typeof m.up === 'string') db.exec(m.up);
        else m.up(db);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length)
          throw new Error(`migration ${m.version} (${m.name}) broke ${broken.length} foreign keys`);
        db.pragma(`user_version = ${m.version}`);
      }).immediate();
    }
  } finally {
    db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Opening

/** Open (creating folder and file on first start) and migrate the station database. */
export function openDatabase(file: string): StationDatabase {
  const memory = file === ':memory:';
  if (!memory) mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    // Before anything that takes a lock: wait up to 5 s for another connection (the CLI, a report)
    // rather than failing at once.
    db.pragma('busy_timeout = 5000');
    // WAL: readers (UI queries, report exports) never block the inspection writer and vice versa.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (!memory && mode !== 'wal') {
      throw new Error(
        `cannot use WAL journal mode for ${file} (got ${String(mode)}): is it on a network drive?`,
      );
    }
    // synchronous = NORMAL: in WAL mode a commit is in the operating system's hands before COMMIT
    // returns, so no committed row is lost when the station process crashes or is killed; only a power
    // loss or OS crash can roll back the last commits since the WAL was last synced (the file stays
    // consistent). That is acceptable for inspections: a lost row means a file without a row, which the
    // start-up catch-up scores again. It is not for what people typed (decisions, lines, models,
    // operators): those commit with synchronous = FULL (see `write`), one fsync that also makes
    // everything before them durable. FULL for every inspection would cost an fsync per image.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return new StationDatabase(db);
}

// ---------------------------------------------------------------------------------------------------
// Column maps: one place that pairs row-type keys with column names (selects and inserts use them).

const INSPECTION_COLUMNS = {
  id: 'id',
  lineId: 'line_id',
  modelId: 'model_id',
  modelVersion: 'model_version',
  filePath: 'file_path',
  fileSize: 'file_size',
  fileMtimeMs: 'file_mtime_ms',
  sha256: 'sha256',
  receivedAt: 'received_at',
  scoredAt: 'scored_at',
  decodeMs: 'decode_ms',
  scoreMs: 'score_ms',
  rawScore: 'raw_score',
  normalizedScore: 'normalized_score',
  threshold: 'threshold',
  verdict: 'verdict',
  errorText: 'error_text',
  originalKey: 'original_key',
  heatmapKey: 'heatmap_key',
  reconstructionKey: 'reconstruction_key',
  thumbnailKey: 'thumbnail_key',
  overlayKey: 'overlay_key',
  engine: 'engine',
  decision: 'decision',
  decisionCount: 'decision_count',
  lastDecisionId: 'last_decision_id',
} as const satisfies Record<keyof InspectionRow, string>;

const DECISION_COLUMNS = {
  id: 'id',
  inspectionId: 'inspection_id',
  decision: 'decision',
  operator: 'operator',
  comment: 'comment',
  decidedAt: 'decided_at',
  modelVersion: 'model_version',
  threshold: 'threshold',
  correctsDecisionId: 'corrects_decision_id',
  prevHash: 'prev_hash',
  hash: 'hash',
} as const satisfies Record<keyof DecisionRow, string>;

const LINE_COLUMNS = {
  id: 'id',
  name: 'name',
  folder: 'folder',
  modelId: 'model_id',
  thresholdOverride: 'threshold_override',
  recursive: 'recursive',
  state: 'state',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  removedAt: 'removed_at',
} as const satisfies Record<keyof LineRow, string>;

const select = (alias: string, columns: Record<string, string>, prefix = ''): string =>
  Object.entries(columns)
    .map(([key, col]) => `${alias}.${col} AS "${prefix}${key}"`)
    .join(', ');

const INSPECTION_SELECT = select('i', INSPECTION_COLUMNS);
const DECISION_SELECT = select('d', DECISION_COLUMNS);
const LINE_SELECT = select('l', LINE_COLUMNS);
/** The latest decision joined by its id, its columns prefixed so they can be split off the row. */
const JOINED_DECISION_SELECT = select('d', DECISION_COLUMNS, 'd.');

const NEW_INSPECTION_KEYS = Object.keys(INSPECTION_COLUMNS).filter(
  (k) => !['id', 'decision', 'decisionCount', 'lastDecisionId'].includes(k),
) as (keyof typeof INSPECTION_COLUMNS)[];
const INSERT_INSPECTION = `INSERT INTO inspections (${NEW_INSPECTION_KEYS.map((k) => INSPECTION_COLUMNS[k]).join(', ')})
  VALUES (${NEW_INSPECTION_KEYS.map((k) => `@${k}`).join(', ')}) RETURNING id`;

const MODEL_SELECT = `SELECT id, name, folder, method, version, created_at AS createdAt, meta_json AS metaJson,
  data_hash AS dataHash, threshold, calibration_json AS calibrationJson, registered_at AS registeredAt FROM models`;
const JOB_SELECT = `SELECT id, state, settings_json AS settingsJson, data_folder AS dataFolder,
  output_folder AS outputFolder, progress_json AS progressJson, error, model_id AS modelId,
  created_at AS createdAt, started_at AS startedAt, finished_at AS finishedAt FROM training_jobs`;
const HISTORY_SELECT = `SELECT id, line_id AS lineId, model_id AS modelId, threshold_override AS thresholdOverride,
  activated_at AS activatedAt FROM line_model_history`;
const OPERATOR_SELECT = 'SELECT id, name, badge, created_at AS createdAt FROM operators';

// The UI's fixed queries; queryPlan() explains exactly these strings.
const LATEST_INSPECTIONS = `SELECT ${INSPECTION_SELECT} FROM inspections i WHERE i.line_id = ?
  ORDER BY i.scored_at DESC, i.id DESC LIMIT ?`;
// Literal 'flag' and IS NULL: SQLite uses a partial index only when the query repeats its WHERE terms.
const UNREVIEWED_FLAGS = `SELECT ${INSPECTION_SELECT} FROM inspections i
  WHERE i.verdict = 'flag' AND i.decision IS NULL AND i.id > ? ORDER BY i.id LIMIT ?`;
const LINE_STATS = `SELECT i.verdict, i.decision, count(*) AS n FROM inspections i
  WHERE i.line_id = ? AND i.scored_at >= ? GROUP BY i.verdict, i.decision`;
// Grouped by bucket first: grouped by line first, SQLite would rather scan all of (line_id, scored_at)
// than read the scored_at range (the query-plan test checks it reads the range).
const SCORED_PER_TEN_SECONDS = `SELECT i.line_id AS lineId, substr(i.scored_at, 1, 18) AS bucket, count(*) AS n
  FROM inspections i WHERE i.scored_at >= ? GROUP BY 2, 1 ORDER BY 1, 2`;
const periodThresholdsSql = (
  where: string,
) => `SELECT i.model_id AS modelId, i.line_id AS lineId, i.threshold,
    count(*) AS n, min(i.scored_at) AS first, max(i.scored_at) AS last
  FROM inspections i ${where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 5`;

type ModelSqlRow = Omit<ModelRow, 'meta' | 'calibration'> & {
  metaJson: string;
  calibrationJson: string | null;
};
type JobSqlRow = Omit<TrainingJobRow, 'settings' | 'progress'> & {
  settingsJson: string;
  progressJson: string | null;
};
type LineSqlRow = Omit<LineRow, 'recursive'> & { recursive: number };

const MAX_PAGE = 1000;
/** Rows per query while streaming: small enough that the connection is free again between chunks. */
const STREAM_CHUNK = 500;

// ---------------------------------------------------------------------------------------------------
// Small helpers

/** A station time in the one stored shape. */
export function toIso(t: TimeInput): string {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) throw new Error(`not a valid time: ${String(t)}`);
  return d.toISOString();
}

const nowIso = (): string => new Date().toISOString();

function finiteOrNull(name: string, v: number | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  // better-sqlite3 binds NaN as NULL: refuse it instead of storing a silent hole.
  if (!Number.isFinite(v)) throw new Error(`${name} must be a finite number, got ${v}`);
  return v;
}

/** Replace lone surrogates: SQLite stores text as UTF-8, so they would not read back as written. */
const wellFormed = (s: string): string => s.replace(/\p{Cs}/gu, '\uFFFD');

function verdictList(v: Verdict | readonly Verdict[]): Verdict[] {
  const list = typeof v === 'string' ? [v] : [...v];
  for (const x of list) if (!VERDICTS.includes(x)) throw new Error(`unknown verdict: ${String(x)}`);
  return list;
}

function encodeCursor(row: { scoredAt: string; id: number }): string {
  return Buffer.from(JSON.stringify([row.scoredAt, row.id])).toString('base64url');
}

function decodeCursor(cursor: string): { scoredAt: string; id: number } {
  try {
    const [scoredAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof scoredAt === 'string' && Number.isSafeInteger(id)) return { scoredAt, id: id as number };
  } catch {
    // fall through to the error below
  }
  throw new Error('invalid page cursor');
}

function sqliteCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}

const toModel = (r: ModelSqlRow): ModelRow => {
  const { metaJson, calibrationJson, ...rest } = r;
  return {
    ...rest,
    meta: JSON.parse(metaJson) as ModelMeta,
    calibration: calibrationJson === null ? null : (JSON.parse(calibrationJson) as Calibration),
  };
};

const toJob = (r: JobSqlRow): TrainingJobRow => {
  const { settingsJson, progressJson, ...rest } = r;
  return {
    ...rest,
    settings: JSON.parse(settingsJson),
    progress: progressJson === null ? null : JSON.parse(progressJson),
  };
};

const toLine = (r: LineSqlRow): LineRow => ({ ...r, recursive: r.recursive === 1 });

const INSPECTION_KEYS = Object.keys(INSPECTION_COLUMNS);
const JOINED_DECISION_KEYS = Object.keys(DECISION_COLUMNS).map((k) => [k, `d.${k}`] as const);

/** Split the prefixed decision columns off a joined row (fixed key lists: reports map 100k rows). */
function toInspectionWithDecision(r: Record<string, unknown>): InspectionWithDecision {
  const row: Record<string, unknown> = {};
  for (const k of INSPECTION_KEYS) row[k] = r[k];
  let decision: Record<string, unknown> | null = null;
  if (r['d.id'] !== null) {
    decision = {};
    for (const [k, prefixed] of JOINED_DECISION_KEYS) decision[k] = r[prefixed];
  }
  row.latestDecision = decision;
  return row as unknown as InspectionWithDecision;
}

// ---------------------------------------------------------------------------------------------------

export class StationDatabase {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  get file(): string {
    return this.db.name;
  }

  get schemaVersion(): number {
    return userVersion(this.db);
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /** The connection itself, for modules that keep their own tables in this file (outputs/outbox-store.ts). */
  get connection(): Database.Database {
    return this.db;
  }

  /**
   * Run `fn` in one IMMEDIATE transaction (`durable`: committed with synchronous = FULL), so a caller can
   * commit its own rows together with this class's writes, which join it.
   */
  transaction<T>(fn: () => T, durable = false): T {
    return this.write(fn, durable);
  }

  /** Prepared once per SQL text and reused (the dynamic filter queries have few distinct shapes). */
  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private get<T>(sql: string, ...params: unknown[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }

  private all<T>(sql: string, ...params: unknown[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  private run(sql: string, ...params: unknown[]): Database.RunResult {
    return this.stmt(sql).run(...params);
  }

  /**
   * One IMMEDIATE transaction. `durable` commits with synchronous = FULL (an fsync of the WAL) for what
   * people typed and cannot be recomputed; see openDatabase. SQLite refuses to change synchronous inside
   * a transaction, hence around it.
   */
  private write<T>(fn: () => T, durable = false): T {
    if (this.db.inTransaction) return fn();
    if (!durable) return this.db.transaction(fn).immediate();
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(fn).immediate();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  // ------------------------------------------------------------------------------------------ models

  /**
   * Register a model folder (its meta.json already validated by parseModelMeta). Idempotent: the same
   * folder and version returns the row already there.
   */
  registerModel(input: { folder: string; meta: ModelMeta; version?: string }): ModelRow {
    const metaJson = JSON.stringify(input.meta);
    const version = input.version ?? createHash('sha256').update(metaJson).digest('hex').slice(0, 12);
    const calibration = input.meta.calibration ?? null;
    return this.write(() => {
      const existing = this.get<ModelSqlRow>(
        `${MODEL_SELECT} WHERE folder = ? AND version = ?`,
        input.folder,
        version,
      );
      if (existing) return toModel(existing);
      const { id } = this.get<{ id: number }>(
        `INSERT INTO models (name, folder, method, version, created_at, meta_json, data_hash, threshold,
           calibration_json, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        input.meta.name,
        input.folder,
        input.meta.method,
        version,
        toIso(input.meta.createdAt),
        metaJson,
        input.meta.training?.dataHash ?? null,
        finiteOrNull('calibration.threshold', calibration?.threshold),
        calibration === null ? null : JSON.stringify(calibration),
        nowIso(),
      )!;
      return this.getModel(id)!;
    }, true);
  }

  getModel(id: number): ModelRow | undefined {
    const r = this.get<ModelSqlRow>(`${MODEL_SELECT} WHERE id = ?`, id);
    return r && toModel(r);
  }

  /** Newest first. */
  listModels(): ModelRow[] {
    return this.all<ModelSqlRow>(`${MODEL_SELECT} ORDER BY registered_at DESC, id DESC`).map(toModel);
  }

  // ------------------------------------------------------------------------------------------- lines

  addLine(input: {
    name: string;
    folder: string;
    modelId?: number | null;
    thresholdOverride?: number | null;
    recursive?: boolean;
    state?: LineState;
  }): LineRow {
    const at = nowIso();
    const modelId = input.modelId ?? null;
    const thresholdOverride = finiteOrNull('thresholdOverride', input.thresholdOverride);
    return this.write(() => {
      const { id } = this.uniqueLine(input.name, input.folder, () =>
        this.get<{ id: number }>(
          `INSERT INTO lines (name, folder, model_id, threshold_override, recursive, state, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          input.name.trim(),
          input.folder,
          modelId,
          thresholdOverride,
          input.recursive ? 1 : 0,
          input.state ?? 'active',
          at,
          at,
        ),
      )!;
      this.recordModelChange(id, modelId, thresholdOverride, at);
      return this.getLine(id)!;
    }, true);
  }

  /** Change a live line's settings; a new model or threshold override is recorded in its history. */
  updateLine(
    id: number,
    patch: Partial<{
      name: string;
      folder: string;
      modelId: number | null;
      thresholdOverride: number | null;
      recursive: boolean;
    }>,
  ): LineRow {
    return this.write(() => {
      const line = this.liveLine(id);
      const next = {
        name: patch.name?.trim() ?? line.name,
        folder: patch.folder ?? line.folder,
        modelId: patch.modelId === undefined ? line.modelId : patch.modelId,
        thresholdOverride:
          patch.thresholdOverride === undefined
            ? line.thresholdOverride
            : finiteOrNull('thresholdOverride', patch.thresholdOverride),
        recursive: patch.recursive ?? line.recursive,
      };
      const at = nowIso();
      this.uniqueLine(next.name, next.folder, () =>
        this.run(
          `UPDATE lines SET name = ?, folder = ?, model_id = ?, threshold_override = ?, recursive = ?, updated_at = ?
           WHERE id = ?`,
          next.name,
          next.folder,
          next.modelId,
          next.thresholdOverride,
          next.recursive ? 1 : 0,
          at,
          id,
        ),
      );
      if (next.modelId !== line.modelId || next.thresholdOverride !== line.thresholdOverride) {
        this.recordModelChange(id, next.modelId, next.thresholdOverride, at);
      }
      return this.getLine(id)!;
    }, true);
  }

  setLineState(id: number, state: LineState): LineRow {
    return this.write(() => {
      this.liveLine(id);
      this.run('UPDATE lines SET state = ?, updated_at = ? WHERE id = ?', state, nowIso(), id);
      return this.getLine(id)!;
    }, true);
  }

  /** Soft delete: the line stops and disappears from listLines, its inspections keep pointing at it. */
  removeLine(id: number): LineRow {
    return this.write(() => {
      const line = this.getLine(id);
      if (!line) throw new Error(`no line #${id}`);
      if (line.removedAt) return line;
      const at = nowIso();
      this.run(`UPDATE lines SET state = 'paused', removed_at = ?, updated_at = ? WHERE id = ?`, at, at, id);
      return this.getLine(id)!;
    }, true);
  }

  /** Any line, removed ones included (old inspections refer to them). */
  getLine(id: number): LineRow | undefined {
    const r = this.get<LineSqlRow>(`SELECT ${LINE_SELECT} FROM lines l WHERE l.id = ?`, id);
    return r && toLine(r);
  }

  /** Lines not removed (active and paused), by name; `includeRemoved` for history and reports. */
  listLines(opts: { includeRemoved?: boolean } = {}): LineRow[] {
    const where = opts.includeRemoved ? '' : 'WHERE l.removed_at IS NULL';
    return this.all<LineSqlRow>(`SELECT ${LINE_SELECT} FROM lines l ${where} ORDER BY l.name, l.id`).map(
      toLine,
    );
  }

  /** Every model / threshold override the line had, oldest first. */
  lineModelHistory(lineId: number): LineModelHistoryRow[] {
    return this.all(`${HISTORY_SELECT} WHERE line_id = ? ORDER BY activated_at, id`, lineId);
  }

  /** The model and threshold override in force on a line at a time (undefined: before the line existed). */
  modelInForce(lineId: number, at: TimeInput): LineModelHistoryRow | undefined {
    return this.get(
      `${HISTORY_SELECT} WHERE line_id = ? AND activated_at <= ? ORDER BY activated_at DESC, id DESC LIMIT 1`,
      lineId,
      toIso(at),
    );
  }

  private liveLine(id: number): LineRow {
    const line = this.getLine(id);
    if (!line) throw new Error(`no line #${id}`);
    if (line.removedAt) throw new Error(`line "${line.name}" (#${id}) was removed`);
    return line;
  }

  private recordModelChange(
    lineId: number,
    modelId: number | null,
    thresholdOverride: number | null,
    at: string,
  ) {
    this.run(
      'INSERT INTO line_model_history (line_id, model_id, threshold_override, activated_at) VALUES (?, ?, ?, ?)',
      lineId,
      modelId,
      thresholdOverride,
      at,
    );
  }

  /** Turn the live-name / live-folder unique index violations into messages a person can act on. */
  private uniqueLine<T>(name: string, folder: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (sqliteCode(e) === 'SQLITE_CONSTRAINT_UNIQUE') {
        const msg = String((e as Error).message);
        if (msg.includes('lines.name'))
          throw new Error(`a line named "${name}" already exists`, { cause: e });
        if (msg.includes('lines.folder'))
          throw new Error(`another line already watches ${folder}`, { cause: e });
      }
      throw e;
    }
  }

  // ------------------------------------------------------------------------------------- inspections

  /** The row for this exact file version, if this line already scored it (dedupe before scoring). */
  findInspectionByFile(
    lineId: number,
    path: string,
    size: number,
    mtimeMs: number,
  ): InspectionRow | undefined {
    return this.get(
      `SELECT ${INSPECTION_SELECT} FROM inspections i
       WHERE i.line_id = ? AND i.file_path = ? AND i.file_size = ? AND i.file_mtime_ms = ?`,
      lineId,
      path,
      size,
      Math.floor(mtimeMs),
    );
  }

  /** Insert one inspection (a single statement: one transaction). Throws DuplicateInspectionError. */
  insertInspection(row: NewInspection): number {
    if (!Number.isSafeInteger(row.fileSize) || row.fileSize < 0)
      throw new Error(`bad file size: ${row.fileSize}`);
    // Only the known keys: callers may pass a richer record (the inspector's carries more).
    const params: Record<string, unknown> = Object.fromEntries(
      NEW_INSPECTION_KEYS.map((k) => [k, (row as unknown as Record<string, unknown>)[k] ?? null]),
    );
    params.fileMtimeMs = Math.floor(finiteOrNull('fileMtimeMs', row.fileMtimeMs)!);
    params.receivedAt = toIso(row.receivedAt);
    params.scoredAt = toIso(row.scoredAt);
    for (const k of ['decodeMs', 'scoreMs', 'rawScore', 'normalizedScore', 'threshold'] as const) {
      params[k] = finiteOrNull(k, row[k]);
    }
    try {
      return (this.stmt(INSERT_INSPECTION).get(params) as { id: number }).id;
    } catch (e) {
      if (sqliteCode(e) === 'SQLITE_CONSTRAINT_UNIQUE' && String(e).includes('inspections.line_id')) {
        const existing = this.findInspectionByFile(row.lineId, row.filePath, row.fileSize, row.fileMtimeMs);
        if (existing) throw new DuplicateInspectionError(existing.id);
      }
      throw e;
    }
  }

  getInspection(id: number): InspectionRow | undefined {
    return this.get(`SELECT ${INSPECTION_SELECT} FROM inspections i WHERE i.id = ?`, id);
  }

  /** Newest first (by scored_at, then id). */
  latestInspections(lineId: number, limit = 50): InspectionRow[] {
    return this.all(LATEST_INSPECTIONS, lineId, clampLimit(limit));
  }

  /** The review queue: flags without a decision, oldest first; page with afterId = last id seen. */
  unreviewedFlags(limit = 50, afterId = 0): InspectionRow[] {
    return this.all(UNREVIEWED_FLAGS, afterId, clampLimit(limit));
  }

  /**
   * Filtered inspections, keyset-paged on (scored_at, id): each page is an index range read, so page
   * 1000 costs what page 1 does, and rows inserted meanwhile never shift or repeat rows.
   */
  queryInspections(filters: InspectionFilters = {}, page: PageOptions = {}): InspectionPage {
    const limit = clampLimit(page.limit ?? 100);
    const { sql, params } = pageQuery(filters, page, false);
    const rows = this.all<InspectionRow>(sql, ...params, limit + 1);
    const more = rows.length > limit;
    if (more) rows.length = limit;
    return { rows, nextCursor: more ? encodeCursor(rows[limit - 1]) : null };
  }

  /** The newest inspection's id (0 when there is none): a snapshot bound for InspectionFilters.maxId. */
  lastInspectionId(): number {
    return this.get<{ id: number | null }>('SELECT max(id) AS id FROM inspections')!.id ?? 0;
  }

  countInspections(filters: InspectionFilters = {}): number {
    const { where, params } = filterSql(filters);
    return this.get<{ n: number }>(`SELECT count(*) AS n FROM inspections i ${where}`, ...params)!.n;
  }

  /**
   * Inspection counts grouped by line, UTC day, model, verdict and latest decision: one aggregate query
   * over the period's index range, so report summaries cost the same memory for a day or a year.
   */
  periodCounts(filters: InspectionFilters = {}): PeriodCountRow[] {
    const { where, params } = filterSql(filters);
    return this.all(
      `SELECT i.line_id AS lineId, substr(i.scored_at, 1, 10) AS day, i.model_id AS modelId, i.verdict,
         i.decision, count(*) AS n
       FROM inspections i ${where} GROUP BY 1, 2, 3, 4, 5 ORDER BY 2, 1, 3, 4, 5`,
      ...params,
    );
  }

  /** The thresholds images were judged by (as each row stores it), per model and line; errors judged nothing. */
  periodThresholds(filters: InspectionFilters = {}): PeriodThresholdRow[] {
    const { where, params } = filterSql({ ...filters, verdict: ['pass', 'flag'] });
    return this.all(periodThresholdsSql(where), ...params);
  }

  /**
   * Inspections scored since a time, per line and 10-second bucket (the first 18 characters of the stored ISO
   * time, e.g. "2026-01-05T06:00:1"): the Live view's throughput, an index range read on scored_at.
   */
  scoredPerTenSeconds(since: TimeInput): { lineId: number; bucket: string; n: number }[] {
    return this.all(SCORED_PER_TEN_SECONDS, toIso(since));
  }

  /** Verdict and decision counts for a line since a time (a shift, a day). */
  lineStats(lineId: number, since: TimeInput): LineStats {
    const stats: LineStats = {
      total: 0,
      pass: 0,
      flag: 0,
      error: 0,
      defect: 0,
      falseAlarm: 0,
      unreviewed: 0,
    };
    const rows = this.all<{ verdict: Verdict; decision: DecisionValue | null; n: number }>(
      LINE_STATS,
      lineId,
      toIso(since),
    );
    for (const { verdict, decision, n } of rows) {
      stats.total += n;
      stats[verdict] += n;
      if (decision === 'defect') stats.defect += n;
      else if (decision === 'false_alarm') stats.falseAlarm += n;
      else if (verdict === 'flag') stats.unreviewed += n;
    }
    return stats;
  }

  /**
   * Stream inspections with their latest decision for reports, oldest first by default. Reads in chunks
   * of STREAM_CHUNK rows so the connection is free between them (an open better-sqlite3 iterator
   * would block every write, inspections included, for as long as the report takes). Rows inserted after
   * the call started are left out, so a report is one consistent set.
   */
  *iterateInspections(
    filters: InspectionFilters = {},
    opts: { order?: 'asc' | 'desc' } = {},
  ): Generator<InspectionWithDecision> {
    const maxId = this.get<{ id: number | null }>('SELECT max(id) AS id FROM inspections')!.id;
    if (maxId === null) return;
    let cursor: string | null = null;
    for (;;) {
      const { sql, params } = pageQuery(filters, { order: opts.order ?? 'asc', cursor }, true, maxId);
      const rows = this.all<Record<string, unknown>>(sql, ...params, STREAM_CHUNK);
      for (const r of rows) yield toInspectionWithDecision(r);
      if (rows.length < STREAM_CHUNK) return;
      const last = rows[rows.length - 1] as { scoredAt: string; id: number };
      cursor = encodeCursor(last);
    }
  }

  // --------------------------------------------------------------------------------------- decisions

  /**
   * Append an operator's decision. One IMMEDIATE transaction reads the chain head, hashes the new row
   * onto it and inserts it, so two stations or windows can never fork the chain. Deciding again on an
   * image is a correction: it must name the decision it replaces, which must still be the latest
   * (otherwise DecisionConflictError: someone decided meanwhile).
   */
  appendDecision(input: NewDecision): DecisionRow {
    if (!DECISIONS.includes(input.decision)) throw new Error(`unknown decision: ${String(input.decision)}`);
    const operator = wellFormed(input.operator.trim());
    if (!operator) throw new Error('a decision needs the operator who made it');
    const comment = input.comment?.trim() ? wellFormed(input.comment.trim()) : null;
    const decidedAt = toIso(input.decidedAt ?? new Date());
    const corrects = input.correctsDecisionId ?? null;

    return this.write(() => {
      const inspection = this.get<{
        modelVersion: string | null;
        threshold: number | null;
        lastDecisionId: number | null;
      }>(
        'SELECT model_version AS modelVersion, threshold, last_decision_id AS lastDecisionId FROM inspections WHERE id = ?',
        input.inspectionId,
      );
      if (!inspection) throw new Error(`no inspection #${input.inspectionId}`);
      const latest = inspection.lastDecisionId;
      if (latest !== corrects) {
        const message =
          latest === null
            ? `inspection #${input.inspectionId} has no decision yet, so there is no decision #${corrects} to correct`
            : corrects === null
              ? `inspection #${input.inspectionId} was already decided (decision #${latest}); a new decision must correct it`
              : `decision #${corrects} is not the latest on inspection #${input.inspectionId} (#${latest} is): someone decided meanwhile`;
        throw new DecisionConflictError(message, latest);
      }
      const head = this.get<{ id: number; hash: string }>(
        'SELECT id, hash FROM decisions ORDER BY id DESC LIMIT 1',
      );
      const fields: ChainedDecision = {
        // Explicit ids (head + 1): the id is part of the hash, and rows are never deleted.
        id: (head?.id ?? 0) + 1,
        inspectionId: input.inspectionId,
        decision: input.decision,
        operator,
        comment,
        decidedAt,
        modelVersion: inspection.modelVersion,
        threshold: inspection.threshold,
        correctsDecisionId: corrects,
        prevHash: head?.hash ?? GENESIS_HASH,
      };
      const row: DecisionRow = { ...fields, decision: input.decision, hash: decisionHash(fields) };
      this.run(
        `INSERT INTO decisions (${Object.values(DECISION_COLUMNS).join(', ')})
         VALUES (${Object.keys(DECISION_COLUMNS)
           .map((k) => `@${k}`)
           .join(', ')})`,
        row,
      );
      this.run(
        'INSERT INTO operators (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
        operator,
        decidedAt,
      );
      return row;
    }, true);
  }

  /** All decisions on an inspection, oldest first (the original, then its corrections). */
  decisionsFor(inspectionId: number): DecisionRow[] {
    return this.all(
      `SELECT ${DECISION_SELECT} FROM decisions d WHERE d.inspection_id = ? ORDER BY d.id`,
      inspectionId,
    );
  }

  /** The decision in force on an inspection. */
  latestDecision(inspectionId: number): DecisionRow | undefined {
    return this.get(
      `SELECT ${DECISION_SELECT} FROM decisions d WHERE d.inspection_id = ? ORDER BY d.id DESC LIMIT 1`,
      inspectionId,
    );
  }

  /**
   * Recompute the whole hash chain, streaming rows (one statement, so one consistent snapshot; it runs
   * to completion synchronously, so the open iterator blocks nothing else).
   */
  verifyAuditChain(): ChainVerification {
    return verifyChain(
      this.stmt(
        `SELECT ${DECISION_SELECT} FROM decisions d ORDER BY d.id`,
      ).iterate() as Iterable<DecisionRow>,
    );
  }

  // ---------------------------------------------------------------------------------- training jobs

  createJob(input: { settings: unknown; dataFolder: string; outputFolder: string }): TrainingJobRow {
    const { id } = this.get<{ id: number }>(
      `INSERT INTO training_jobs (state, settings_json, data_folder, output_folder, created_at)
       VALUES ('queued', ?, ?, ?, ?) RETURNING id`,
      JSON.stringify(input.settings ?? {}),
      input.dataFolder,
      input.outputFolder,
      nowIso(),
    )!;
    return this.getJob(id)!;
  }

  /** queued (or interrupted / cancelled, to resume from its checkpoint) -> running. */
  startJob(id: number): TrainingJobRow {
    const r = this.run(
      `UPDATE training_jobs SET state = 'running', started_at = ?, finished_at = NULL, error = NULL
       WHERE id = ? AND state IN ('queued', 'interrupted', 'cancelled')`,
      nowIso(),
      id,
    );
    if (r.changes === 0)
      throw new Error(`training job #${id} cannot start (${this.getJob(id)?.state ?? 'no such job'})`);
    return this.getJob(id)!;
  }

  /** False when the job is no longer running (a late progress event after a cancel is not an error). */
  updateJobProgress(id: number, progress: unknown): boolean {
    const r = this.run(
      `UPDATE training_jobs SET progress_json = ? WHERE id = ? AND state = 'running'`,
      JSON.stringify(progress ?? null),
      id,
    );
    return r.changes > 0;
  }

  finishJob(
    id: number,
    result: { state: 'done' | 'failed' | 'cancelled'; error?: string | null; modelId?: number | null },
  ): TrainingJobRow {
    const r = this.run(
      `UPDATE training_jobs SET state = ?, error = ?, model_id = ?, finished_at = ?
       WHERE id = ? AND state IN ('queued', 'running', 'interrupted')`,
      result.state,
      result.error ?? null,
      result.modelId ?? null,
      nowIso(),
      id,
    );
    if (r.changes === 0)
      throw new Error(`training job #${id} is not open (${this.getJob(id)?.state ?? 'no such job'})`);
    return this.getJob(id)!;
  }

  /**
   * At station start-up: a job still 'running' belonged to a process that is gone. Called by the
   * station, not by openDatabase: the CLI opening the same file must not interrupt a live station's job.
   */
  markInterruptedJobs(): number {
    return this.run(
      `UPDATE training_jobs SET state = 'interrupted', finished_at = ?,
         error = coalesce(error, 'the station stopped while the job was running')
       WHERE state = 'running'`,
      nowIso(),
    ).changes;
  }

  /** Newest first. */
  listJobs(limit = 100): TrainingJobRow[] {
    return this.all<JobSqlRow>(`${JOB_SELECT} ORDER BY id DESC LIMIT ?`, clampLimit(limit)).map(toJob);
  }

  getJob(id: number): TrainingJobRow | undefined {
    const r = this.get<JobSqlRow>(`${JOB_SELECT} WHERE id = ?`, id);
    return r && toJob(r);
  }

  // -------------------------------------------------------------------------------------- operators

  /** Add an operator or update their badge (a null badge keeps the one on file). */
  upsertOperator(name: string, badge: string | null = null): OperatorRow {
    const trimmed = name.trim();
    if (!trimmed) throw new Error('an operator needs a name');
    return this.write(
      () =>
        this.get<OperatorRow>(
          `INSERT INTO operators (name, badge, created_at) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET badge = coalesce(excluded.badge, operators.badge)
           RETURNING id, name, badge, created_at AS createdAt`,
          trimmed,
          badge,
          nowIso(),
        )!,
      true,
    );
  }

  listOperators(): OperatorRow[] {
    return this.all(`${OPERATOR_SELECT} ORDER BY name`);
  }

  // ---------------------------------------------------------------------------------- maintenance

  /** The connection's settings that decide durability and concurrency (diagnostics, tests). */
  connectionSettings(): {
    journalMode: string;
    synchronous: number;
    foreignKeys: boolean;
    busyTimeoutMs: number;
  } {
    const pragma = (name: string): unknown => this.db.pragma(name, { simple: true });
    return {
      journalMode: String(pragma('journal_mode')),
      synchronous: Number(pragma('synchronous')),
      foreignKeys: pragma('foreign_keys') === 1,
      busyTimeoutMs: Number(pragma('busy_timeout')),
    };
  }

  /** SQLite's integrity check plus the foreign key check: 'ok', or every message. */
  integrityCheck(): 'ok' | string[] {
    const messages = (this.db.pragma('integrity_check') as { integrity_check: string }[]).map(
      (r) => r.integrity_check,
    );
    const problems = messages.length === 1 && messages[0] === 'ok' ? [] : messages;
    for (const fk of this.db.pragma('foreign_key_check') as {
      table: string;
      rowid: number;
      parent: string;
    }[]) {
      problems.push(`${fk.table} row ${fk.rowid} refers to a missing ${fk.parent} row`);
    }
    return problems.length ? problems : 'ok';
  }

  /** EXPLAIN QUERY PLAN of the exact SQL a UI query runs (tests check that they use indexes). */
  queryPlan(q: PlannedQuery): string[] {
    let sql: string;
    let params: unknown[];
    switch (q.kind) {
      case 'latestInspections':
        [sql, params] = [LATEST_INSPECTIONS, [q.lineId, 50]];
        break;
      case 'unreviewedFlags':
        [sql, params] = [UNREVIEWED_FLAGS, [0, 50]];
        break;
      case 'lineStats':
        [sql, params] = [LINE_STATS, [q.lineId, nowIso()]];
        break;
      case 'scoredPerTenSeconds':
        [sql, params] = [SCORED_PER_TEN_SECONDS, [nowIso()]];
        break;
      case 'periodThresholds': {
        const f = filterSql({ ...q.filters, verdict: ['pass', 'flag'] });
        [sql, params] = [periodThresholdsSql(f.where), f.params];
        break;
      }
      case 'queryInspections': {
        const p = pageQuery(q.filters, q.page ?? {}, false);
        [sql, params] = [p.sql, [...p.params, 100]];
        break;
      }
      case 'iterateInspections': {
        const p = pageQuery(q.filters, { order: 'asc' }, true, Number.MAX_SAFE_INTEGER);
        [sql, params] = [p.sql, [...p.params, STREAM_CHUNK]];
        break;
      }
    }
    return (this.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map(
      (r) => r.detail,
    );
  }

  /** Idempotent. Runs PRAGMA optimize first, as SQLite recommends before closing a long-lived connection. */
  close(): void {
    if (!this.db.open) return;
    try {
      this.db.pragma('optimize');
    } finally {
      this.statements.clear();
      this.db.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Filter SQL (module-level so queryPlan explains exactly what the methods run)

function clampLimit(limit: number): number {
  if (!Number.isFinite(limit)) return MAX_PAGE;
  return Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));
}

function filterSql(f: InspectionFilters): { where: string; terms: string[]; params: unknown[] } {
  const terms: string[] = [];
  const params: unknown[] = [];
  if (f.lineId !== undefined) {
    terms.push('i.line_id = ?');
    params.push(f.lineId);
  }
  if (f.from !== undefined) {
    terms.push('i.scored_at >= ?');
    params.push(toIso(f.from));
  }
  if (f.to !== undefined) {
    terms.push('i.scored_at < ?');
    params.push(toIso(f.to));
  }
  // Verdicts and decisions are inlined as literals (checked against the enums above): the planner can
  // then match partial indexes and use its statistics, and there are few distinct statements to cache.
  if (f.verdict !== undefined) {
    terms.push(
      `i.verdict IN (${verdictList(f.verdict)
        .map((v) => `'${v}'`)
        .join(', ')})`,
    );
  }
  if (f.decision !== undefined) {
    if (f.decision === 'unreviewed') terms.push('i.decision IS NULL');
    else if (DECISIONS.includes(f.decision)) terms.push(`i.decision = '${f.decision}'`);
    else throw new Error(`unknown decision state: ${String(f.decision)}`);
  }
  if (f.minScore !== undefined) {
    terms.push('i.normalized_score >= ?');
    params.push(finiteOrNull('minScore', f.minScore));
  }
  if (f.maxScore !== undefined) {
    terms.push('i.normalized_score <= ?');
    params.push(finiteOrNull('maxScore', f.maxScore));
  }
  if (f.maxId !== undefined) {
    // Unary + keeps the planner on the time index (as in pageQuery).
    terms.push('+i.id <= ?');
    params.push(f.maxId);
  }
  return { where: terms.length ? `WHERE ${terms.join(' AND ')}` : '', terms, params };
}

/**
 * One page in (scored_at, id) order after `cursor`; the caller appends the LIMIT parameter. The cursor
 * test is written as `scored_at <= t AND (scored_at < t OR id < n)`: the first term is an index range,
 * the second settles ties on the same millisecond.
 */
function pageQuery(
  filters: InspectionFilters,
  page: PageOptions,
  withDecision: boolean,
  maxId?: number,
): { sql: string; params: unknown[] } {
  const { terms, params } = filterSql(filters);
  const desc = (page.order ?? 'desc') === 'desc';
  const op = desc ? '<' : '>';
  if (page.cursor) {
    const c = decodeCursor(page.cursor);
    terms.push(`i.scored_at ${op}= ? AND (i.scored_at ${op} ? OR i.id ${op} ?)`);
    params.push(c.scoredAt, c.scoredAt, c.id);
  }
  if (maxId !== undefined) {
    // Unary + keeps the planner off the rowid range: it must walk the time index, not sort the table.
    terms.push('+i.id <= ?');
    params.push(maxId);
  }
  const dir = desc ? 'DESC' : 'ASC';
  const columns = withDecision ? `${INSPECTION_SELECT}, ${JOINED_DECISION_SELECT}` : INSPECTION_SELECT;
  const join = withDecision ? 'LEFT JOIN decisions d ON d.id = i.last_decision_id' : '';
  const where = terms.length ? `WHERE ${terms.join(' AND ')}` : '';
  return {
    sql: `SELECT ${columns} FROM inspections i ${join} ${where} ORDER BY i.scored_at ${dir}, i.id ${dir} LIMIT ?`,
    params,
  };
}
