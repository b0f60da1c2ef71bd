// The station database on real SQLite files in temp folders: migrations from every version, dedupe,
// the append-only hash-chained decisions (and what tampering looks like), keyset paging, query plans,
// training job bookkeeping, and that committed rows survive a killed process.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelMeta } from '../../../src/ml';
import { decisionHash, GENESIS_HASH } from '../../../src/main/station/audit-chain';
import {
  DecisionConflictError,
  DuplicateInspectionError,
  migrate,
  openDatabase,
  SCHEMA_VERSION,
  type DecisionValue,
  type InspectionFilters,
  type NewInspection,
  type StationDatabase,
  type Verdict,
} from '../../../src/main/station/database';
import { tempDir } from '../../helpers/fixtures';
import { fakeModelMeta } from '../../helpers/station-records';

const META: ModelMeta = fakeModelMeta('bracket-ganomaly', 0.8125, 'data-hash-123');

const T0 = Date.parse('2025-03-01T06:00:00.000Z');

function inspection(lineId: number, i: number, over: Partial<NewInspection> = {}): NewInspection {
  return {
    lineId,
    modelId: null,
    modelVersion: 'v1',
    filePath: `/camera/line${lineId}/img-${i}.png`,
    fileSize: 10_000 + i,
    fileMtimeMs: T0 + i,
    sha256: 'ab'.repeat(32),
    receivedAt: T0 + i * 1000,
    scoredAt: T0 + i * 1000,
    decodeMs: 3.5,
    scoreMs: 12.25,
    rawScore: 0.9,
    normalizedScore: 0.7,
    threshold: 0.8125,
    verdict: 'flag',
    engine: 'tfjs-wasm',
    originalKey: 'cd'.repeat(32),
    heatmapKey: 'ef'.repeat(32),
    ...over,
  };
}

let tmp: ReturnType<typeof tempDir>;
let file: string;
const open: StationDatabase[] = [];
const raws: Database.Database[] = [];

function openDb(f = file): StationDatabase {
  const db = openDatabase(f);
  open.push(db);
  return db;
}

/** A plain better-sqlite3 connection on the same file: what someone with a SQLite tool could do. */
function raw(f = file): Database.Database {
  mkdirSync(dirname(f), { recursive: true });
  const r = new Database(f);
  raws.push(r);
  return r;
}

beforeEach(() => {
  tmp = tempDir('station-db-');
  file = join(tmp.dir, 'data', 'station.db');
});

afterEach(() => {
  for (const r of raws.splice(0)) r.close();
  for (const db of open.splice(0)) db.close();
  tmp.cleanup();
});

describe('opening and migrations', () => {
  it('creates the folder and the file, in WAL mode with foreign keys on', () => {
    const db = openDb();
    expect(existsSync(file)).toBe(true);
    expect(db.schemaVersion).toBe(SCHEMA_VERSION);
    expect(db.connectionSettings()).toEqual({
      journalMode: 'wal',
      synchronous: 1, // NORMAL
      foreignKeys: true,
      busyTimeoutMs: 5000,
    });
    expect(db.integrityCheck()).toBe('ok');
  });

  it('migrates an empty (zero-byte) file', () => {
    openDb(join(tmp.dir, 'x.db')).close();
    const empty = join(tmp.dir, 'empty.db');
    writeFileSync(empty, '');
    expect(openDb(empty).schemaVersion).toBe(SCHEMA_VERSION);
  });

  for (let k = 0; k < SCHEMA_VERSION; k++) {
    it(`upgrades a database at version ${k} and keeps its rows`, () => {
      const r = raw();
      migrate(r, k);
      expect(r.pragma('user_version', { simple: true })).toBe(k);
      if (k >= 1) {
        // Rows written the way a version-1 station wrote them (columns that exist since version 1).
        const at = '2025-03-01T06:00:00.000Z';
        r.prepare(
          `INSERT INTO models (name, folder, method, version, created_at, meta_json, threshold, registered_at)
           VALUES ('m', '/models/m', 'ganomaly', 'v-old', ?, '{}', 0.5, ?)`,
        ).run(at, at);
        r.prepare(
          `INSERT INTO lines (name, folder, model_id, created_at, updated_at) VALUES ('L1', '/camera/1', 1, ?, ?)`,
        ).run(at, at);
        r.prepare(
          `INSERT INTO inspections (line_id, model_id, model_version, file_path, file_size, file_mtime_ms,
             received_at, scored_at, raw_score, threshold, verdict) VALUES (1, 1, 'v-old', '/camera/1/a.png', 10, 5, ?, ?, 0.9, 0.5, 'flag')`,
        ).run(at, at);
        const fields = {
          id: 1,
          inspectionId: 1,
          decision: 'defect',
          operator: 'anna',
          comment: 'scratch',
          decidedAt: at,
          modelVersion: 'v-old',
          threshold: 0.5,
          correctsDecisionId: null,
          prevHash: GENESIS_HASH,
        };
        r.prepare(
          `INSERT INTO decisions (id, inspection_id, decision, operator, comment, decided_at, model_version, threshold,
             corrects_decision_id, prev_hash, hash) VALUES (1, 1, 'defect', 'anna', 'scratch', ?, 'v-old', 0.5, NULL, ?, ?)`,
        ).run(at, GENESIS_HASH, decisionHash(fields));
        // Since version 3 a station records the operator with the decision (migration 3 backfilled older ones).
        if (k >= 3) r.prepare(`INSERT INTO operators (name, created_at) VALUES ('anna', ?)`).run(at);
      }
      r.close();

      const db = openDb();
      expect(db.schemaVersion).toBe(SCHEMA_VERSION);
      expect(db.integrityCheck()).toBe('ok');
      if (k >= 1) {
        expect(db.getLine(1)).toMatchObject({ name: 'L1', modelId: 1, recursive: false, state: 'active' });
        // Review state filled in from the decision that was already there (migration 2's backfill).
        expect(db.getInspection(1)).toMatchObject({
          filePath: '/camera/1/a.png',
          decision: 'defect',
          decisionCount: 1,
          lastDecisionId: 1,
        });
        expect(db.unreviewedFlags(10)).toEqual([]);
        expect(db.listOperators().map((o) => o.name)).toEqual(['anna']);
        expect(db.verifyAuditChain()).toMatchObject({ ok: true, count: 1 });
        db.appendDecision({
          inspectionId: 1,
          decision: 'false_alarm',
          operator: 'ben',
          correctsDecisionId: 1,
        });
        expect(db.verifyAuditChain()).toMatchObject({ ok: true, count: 2 });
        expect(db.getInspection(1)).toMatchObject({ decision: 'false_alarm', decisionCount: 2 });
      } else {
        expect(db.listLines()).toEqual([]);
      }
    });
  }

  it('reopening a current database changes nothing (no migration, no write lock needed)', () => {
    const db = openDb();
    const line = db.addLine({ name: 'L1', folder: '/camera/1' });
    db.insertInspection(inspection(line.id, 1));
    db.close();
    const r = raw();
    const schema = r.prepare('SELECT sql FROM sqlite_schema ORDER BY name').all();
    // Another connection holds the write lock: a migration would have to wait for it and time out.
    r.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    const again = openDb();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(again.schemaVersion).toBe(SCHEMA_VERSION);
    expect(again.countInspections()).toBe(1);
    r.exec('ROLLBACK');
    expect(r.prepare('SELECT sql FROM sqlite_schema ORDER BY name').all()).toEqual(schema);
  });

  it('refuses a database written by a newer station', () => {
    openDb().close();
    const r = raw();
    r.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    r.close();
    expect(() => openDatabase(file)).toThrow(
      new RegExp(
        `schema version ${SCHEMA_VERSION + 1}, newer than this station understands \\(${SCHEMA_VERSION}\\)`,
      ),
    );
  });

  it("refuses another application's SQLite file", () => {
    const r = raw();
    r.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY)');
    r.close();
    expect(() => openDatabase(file)).toThrow(/not a station database/);
  });
});

describe('models and lines', () => {
  it('registers models idempotently, keeps line settings and the history of models in force', () => {
    const db = openDb();
    const m1 = db.registerModel({ folder: '/models/bracket', meta: META });
    expect(m1).toMatchObject({
      name: 'bracket-ganomaly',
      method: 'ganomaly',
      createdAt: META.createdAt,
      dataHash: 'data-hash-123',
      threshold: 0.8125,
      meta: META,
      calibration: META.calibration,
    });
    expect(m1.version).toMatch(/^[0-9a-f]{12}$/);
    expect(db.registerModel({ folder: '/models/bracket', meta: META }).id).toBe(m1.id);
    const recalibrated = { ...META, calibration: { ...META.calibration!, threshold: 0.9 } };
    const m2 = db.registerModel({ folder: '/models/bracket', meta: recalibrated });
    expect(m2.id).not.toBe(m1.id);
    expect(m2.version).not.toBe(m1.version);
    expect(db.listModels().map((m) => m.id)).toEqual([m2.id, m1.id]);

    const line = db.addLine({ name: 'Press 1', folder: '/camera/press1', modelId: m1.id, recursive: true });
    expect(line).toMatchObject({ modelId: m1.id, recursive: true, state: 'active', removedAt: null });
    expect(() => db.addLine({ name: 'Press 1', folder: '/camera/other' })).toThrow(/line named "Press 1"/);
    expect(() => db.addLine({ name: 'Other', folder: '/camera/press1' })).toThrow(/already watches/);

    const before = new Date(Date.now() - 60_000);
    expect(db.modelInForce(line.id, before)).toBeUndefined();
    db.updateLine(line.id, { modelId: m2.id });
    db.updateLine(line.id, { name: 'Press 1 (left)' }); // no model change: no history row
    const updated = db.updateLine(line.id, { thresholdOverride: 0.95 });
    expect(updated).toMatchObject({ name: 'Press 1 (left)', modelId: m2.id, thresholdOverride: 0.95 });
    expect(db.lineModelHistory(line.id).map((h) => [h.modelId, h.thresholdOverride])).toEqual([
      [m1.id, null],
      [m2.id, null],
      [m2.id, 0.95],
    ]);
    expect(db.modelInForce(line.id, new Date())).toMatchObject({ modelId: m2.id, thresholdOverride: 0.95 });

    expect(db.setLineState(line.id, 'paused').state).toBe('paused');
    const id = db.insertInspection(inspection(line.id, 1));
    db.removeLine(line.id);
    expect(db.listLines()).toEqual([]);
    expect(db.listLines({ includeRemoved: true }).map((l) => l.id)).toEqual([line.id]);
    expect(db.getInspection(id)!.lineId).toBe(line.id);
    expect(() => db.updateLine(line.id, { name: 'x' })).toThrow(/was removed/);
    // Name and folder are free again once the line is removed.
    expect(db.addLine({ name: 'Press 1 (left)', folder: '/camera/press1' }).id).not.toBe(line.id);
  });
});

describe('inspections', () => {
  it('never stores the same file version twice, but does store a changed file', () => {
    const db = openDb();
    const a = db.addLine({ name: 'A', folder: '/camera/a' });
    const b = db.addLine({ name: 'B', folder: '/camera/b' });
    const row = inspection(a.id, 1, { filePath: '/shared/x.png', fileMtimeMs: T0 + 0.75 });
    const id = db.insertInspection(row);
    expect(db.getInspection(id)).toMatchObject({
      fileMtimeMs: T0, // whole milliseconds
      originalKey: 'cd'.repeat(32),
      heatmapKey: 'ef'.repeat(32),
      thumbnailKey: null,
      decision: null,
      decisionCount: 0,
    });
    expect(db.findInspectionByFile(a.id, '/shared/x.png', row.fileSize, T0 + 0.75)?.id).toBe(id);
    expect(db.findInspectionByFile(a.id, '/shared/x.png', row.fileSize, T0 + 1)).toBeUndefined();

    const duplicate = (() => {
      try {
        db.insertInspection(row);
      } catch (e) {
        return e;
      }
    })();
    expect(duplicate).toBeInstanceOf(DuplicateInspectionError);
    expect((duplicate as DuplicateInspectionError).existingId).toBe(id);

    expect(db.insertInspection({ ...row, fileMtimeMs: T0 + 5000 })).not.toBe(id);
    expect(db.insertInspection({ ...row, fileSize: row.fileSize + 1 })).not.toBe(id);
    expect(db.insertInspection({ ...row, lineId: b.id })).not.toBe(id);
    expect(db.countInspections()).toBe(4);
  });

  it('stores error rows and refuses non-finite numbers', () => {
    const db = openDb();
    const line = db.addLine({ name: 'A', folder: '/camera/a' });
    const id = db.insertInspection(
      inspection(line.id, 1, {
        verdict: 'error',
        errorText: 'not an image: truncated PNG',
        rawScore: null,
        normalizedScore: null,
        threshold: null,
      }),
    );
    expect(db.getInspection(id)).toMatchObject({
      verdict: 'error',
      errorText: 'not an image: truncated PNG',
    });
    expect(() => db.insertInspection(inspection(line.id, 2, { rawScore: Number.NaN }))).toThrow(/finite/);
    expect(() => db.insertInspection(inspection(line.id, 3, { scoredAt: 'yesterday-ish' }))).toThrow(
      /valid time/,
    );
  });
});

describe('decisions', () => {
  function flaggedDb(): { db: StationDatabase; ids: number[] } {
    const db = openDb();
    const line = db.addLine({ name: 'A', folder: '/camera/a' });
    const ids = Array.from({ length: 60 }, (_, i) => db.insertInspection(inspection(line.id, i)));
    return { db, ids };
  }

  it('are append-only: triggers refuse UPDATE and DELETE from any connection', () => {
    const { db, ids } = flaggedDb();
    db.appendDecision({ inspectionId: ids[0], decision: 'defect', operator: 'anna' });
    const r = raw();
    expect(() => r.prepare("UPDATE decisions SET comment = 'edited'").run()).toThrow(
      /decisions are append-only/,
    );
    expect(() => r.prepare('DELETE FROM decisions').run()).toThrow(/decisions are append-only/);
    expect(db.verifyAuditChain()).toMatchObject({ ok: true, count: 1 });
  });

  it('corrections are new rows naming the decision they replace', () => {
    const { db, ids } = flaggedDb();
    const first = db.appendDecision({
      inspectionId: ids[0],
      decision: 'defect',
      operator: ' anna ',
      comment: 'dent',
    });
    expect(first).toMatchObject({
      id: 1,
      operator: 'anna',
      comment: 'dent',
      modelVersion: 'v1',
      threshold: 0.8125,
      correctsDecisionId: null,
      prevHash: GENESIS_HASH,
    });
    expect(db.unreviewedFlags(100).map((r) => r.id)).not.toContain(ids[0]);
    expect(() =>
      db.appendDecision({ inspectionId: ids[0], decision: 'false_alarm', operator: 'ben' }),
    ).toThrow(DecisionConflictError);
    const fix = db.appendDecision({
      inspectionId: ids[0],
      decision: 'false_alarm',
      operator: 'ben',
      comment: 'dust, not a dent',
      correctsDecisionId: first.id,
    });
    // A stale view (correcting the first decision again) is refused.
    expect(() =>
      db.appendDecision({
        inspectionId: ids[0],
        decision: 'defect',
        operator: 'cem',
        correctsDecisionId: first.id,
      }),
    ).toThrow(/not the latest/);
    expect(() =>
      db.appendDecision({ inspectionId: ids[1], decision: 'defect', operator: 'x', correctsDecisionId: 1 }),
    ).toThrow(/no decision yet/);
    expect(() => db.appendDecision({ inspectionId: 9999, decision: 'defect', operator: 'x' })).toThrow(
      /no inspection/,
    );

    expect(db.decisionsFor(ids[0]).map((d) => [d.id, d.decision, d.correctsDecisionId])).toEqual([
      [first.id, 'defect', null],
      [fix.id, 'false_alarm', first.id],
    ]);
    expect(db.latestDecision(ids[0])).toEqual(fix);
    expect(db.latestDecision(ids[1])).toBeUndefined();
    expect(db.getInspection(ids[0])).toMatchObject({
      decision: 'false_alarm',
      decisionCount: 2,
      lastDecisionId: fix.id,
    });
    expect(db.listOperators().map((o) => o.name)).toEqual(['anna', 'ben']);
    // The durable write put synchronous back to NORMAL.
    expect(db.connectionSettings().synchronous).toBe(1);
  });

  /** 50 decisions (some corrections, awkward text); returns the db. */
  function chain(): StationDatabase {
    const { db, ids } = flaggedDb();
    const awkward = [
      'emoji 🔩',
      'quote " and \\ backslash',
      'new\nline',
      'lone \ud800 surrogate',
      'nul \u0000 char',
      'ü',
    ];
    for (let i = 0; i < 50; i++) {
      const inspectionId = ids[i % 40];
      const latest = db.latestDecision(inspectionId);
      db.appendDecision({
        inspectionId,
        decision: i % 3 === 0 ? 'defect' : 'false_alarm',
        operator: i % 2 ? 'anna' : 'ben',
        comment: i % 4 === 0 ? null : awkward[i % awkward.length],
        correctsDecisionId: latest?.id ?? null,
      });
    }
    return db;
  }

  it('verifyAuditChain: an intact chain of 50 decisions verifies', () => {
    const db = chain();
    const result = db.verifyAuditChain();
    expect(result).toEqual({ ok: true, count: 50, headHash: db.latestDecision(10)!.hash });
    expect(db.decisionsFor(10)[0].comment).toBe('lone \ufffd surrogate');
  });

  it('verifyAuditChain: an edited decision is reported with a hash mismatch', () => {
    chain().close();
    const r = raw();
    r.exec('DROP TRIGGER decisions_no_update');
    r.prepare("UPDATE decisions SET comment = 'nothing to see' WHERE id = 17").run();
    r.close();
    const result = openDb().verifyAuditChain();
    expect(result).toMatchObject({ ok: false, count: 16, firstBadId: 17 });
    expect(result.reason).toMatch(/^hash mismatch: decision #17 .*changed after it was written/);
  });

  it('verifyAuditChain: a deleted decision is reported at the next row with a prev_hash mismatch', () => {
    chain().close();
    const r = raw();
    // A determined editor: triggers dropped, foreign keys (other rows point at decisions) switched off.
    r.exec('DROP TRIGGER decisions_no_delete');
    r.pragma('foreign_keys = OFF');
    r.prepare('DELETE FROM decisions WHERE id = 25').run();
    r.close();
    const db = openDb();
    const result = db.verifyAuditChain();
    expect(result).toMatchObject({ ok: false, count: 24, firstBadId: 26 });
    expect(result.reason).toMatch(/^prev_hash mismatch: decision #26 does not chain from decision #24/);
    expect(result.reason).toMatch(/ids jump from #24 to #26/);
    expect(db.integrityCheck()).toContainEqual(expect.stringMatching(/refers to a missing decisions row/));
  });

  it('verifyAuditChain: deleting the first decision breaks the link to the genesis value', () => {
    chain().close();
    const r = raw();
    r.exec('DROP TRIGGER decisions_no_delete');
    r.pragma('foreign_keys = OFF');
    r.prepare('DELETE FROM decisions WHERE id = 1').run();
    r.close();
    expect(openDb().verifyAuditChain()).toMatchObject({ ok: false, count: 0, headHash: null, firstBadId: 2 });
  });
});

describe('queries over many rows', () => {
  interface Truth {
    id: number;
    lineId: number;
    scoredAt: string;
    verdict: Verdict;
    normalizedScore: number | null;
    decision: DecisionValue | null;
  }

  /** 2,000 inspections on two lines, three per second (ties on scored_at), ~1/3 of flags decided. */
  function seed(db: StationDatabase): Truth[] {
    const lines = [db.addLine({ name: 'A', folder: '/a' }).id, db.addLine({ name: 'B', folder: '/b' }).id];
    const truth: Truth[] = [];
    let flags = 0;
    for (let i = 0; i < 2000; i++) {
      const verdict: Verdict = i % 10 === 7 ? 'error' : i % 4 === 0 ? 'flag' : 'pass';
      const score = verdict === 'error' ? null : ((i * 7919) % 1000) / 1000;
      const at = new Date(T0 + Math.floor(i / 3) * 1000).toISOString();
      const lineId = lines[(i >> 1) % 2];
      const id = db.insertInspection(
        inspection(lineId, i, {
          scoredAt: at,
          receivedAt: at,
          verdict,
          normalizedScore: score,
          rawScore: score,
          errorText: verdict === 'error' ? 'decode failed' : null,
        }),
      );
      let decision: DecisionValue | null = null;
      if (verdict === 'flag' && flags++ % 3 === 0) {
        decision = flags % 2 ? 'defect' : 'false_alarm';
        db.appendDecision({ inspectionId: id, decision, operator: 'anna' });
      }
      truth.push({ id, lineId, scoredAt: at, verdict, normalizedScore: score, decision });
    }
    return truth;
  }

  const FROM = new Date(T0 + 100_000).toISOString();
  const TO = new Date(T0 + 400_000).toISOString();
  const FILTERS: InspectionFilters[] = [
    {},
    { lineId: 1 },
    { lineId: 2, from: FROM, to: TO },
    { from: FROM, to: TO },
    { verdict: 'flag', decision: 'unreviewed' },
    { verdict: ['pass', 'flag'], minScore: 0.3, maxScore: 0.7 },
    { decision: 'defect', lineId: 1 },
    { decision: 'false_alarm', from: FROM },
    { lineId: 1, to: FROM, verdict: 'error' },
  ];

  function expected(truth: Truth[], f: InspectionFilters, order: 'asc' | 'desc'): number[] {
    const verdicts = f.verdict === undefined ? null : typeof f.verdict === 'string' ? [f.verdict] : f.verdict;
    const rows = truth.filter(
      (t) =>
        (f.lineId === undefined || t.lineId === f.lineId) &&
        (f.from === undefined || t.scoredAt >= (f.from as string)) &&
        (f.to === undefined || t.scoredAt < (f.to as string)) &&
        (!verdicts || verdicts.includes(t.verdict)) &&
        (f.decision === undefined ||
          (f.decision === 'unreviewed' ? t.decision === null : t.decision === f.decision)) &&
        (f.minScore === undefined || (t.normalizedScore !== null && t.normalizedScore >= f.minScore)) &&
        (f.maxScore === undefined || (t.normalizedScore !== null && t.normalizedScore <= f.maxScore)),
    );
    rows.sort((a, b) => (a.scoredAt < b.scoredAt ? -1 : a.scoredAt > b.scoredAt ? 1 : a.id - b.id));
    const ids = rows.map((r) => r.id);
    return order === 'asc' ? ids : ids.reverse();
  }

  let db: StationDatabase;
  let truth: Truth[];
  beforeEach(() => {
    db = openDb();
    truth = seed(db);
  });

  it('keyset paging returns every matching row exactly once, in order, for every filter', () => {
    for (const f of FILTERS) {
      const want = expected(truth, f, 'desc');
      expect(want.length, JSON.stringify(f)).toBeGreaterThan(0);
      for (const order of ['desc', 'asc'] as const) {
        const got: number[] = [];
        let cursor: string | null = null;
        do {
          const page = db.queryInspections(f, { limit: 37, cursor, order });
          expect(page.rows.length).toBeLessThanOrEqual(37);
          got.push(...page.rows.map((r) => r.id));
          cursor = page.nextCursor;
        } while (cursor);
        expect(got, `${JSON.stringify(f)} ${order}`).toEqual(expected(truth, f, order));
      }
      expect(db.countInspections(f)).toBe(want.length);
    }
    expect(() => db.queryInspections({}, { cursor: 'nonsense' })).toThrow(/invalid page cursor/);
  });

  it('iterateInspections streams rows with their latest decision and leaves the connection free', () => {
    for (const f of [{}, { lineId: 2, from: FROM }, { verdict: 'flag' as const }]) {
      const rows = [...db.iterateInspections(f)];
      expect(rows.map((r) => r.id)).toEqual(expected(truth, f, 'asc'));
      for (const r of rows) {
        const t = truth[r.id - 1];
        expect(r.latestDecision?.decision ?? null).toBe(t.decision);
        expect(r.decisionCount).toBe(t.decision ? 1 : 0);
        if (r.latestDecision) expect(r.latestDecision).toEqual(db.latestDecision(r.id));
      }
    }
    // Writes between chunks work, and rows added after the report started are not in it.
    let n = 0;
    for (const _row of db.iterateInspections()) {
      if (n++ === 0) db.insertInspection(inspection(1, 99_999, { scoredAt: T0 + 10_000_000 }));
    }
    expect(n).toBe(2000);
  });

  it('latest per line, the review queue and line stats', () => {
    const latest = db.latestInspections(2, 5).map((r) => r.id);
    expect(latest).toEqual(expected(truth, { lineId: 2 }, 'desc').slice(0, 5));

    const queue = expected(truth, { verdict: 'flag', decision: 'unreviewed' }, 'asc');
    const page1 = db.unreviewedFlags(100);
    const page2 = db.unreviewedFlags(100, page1[page1.length - 1].id);
    expect([...page1, ...page2].map((r) => r.id)).toEqual([...queue].sort((a, b) => a - b).slice(0, 200));

    const since = new Date(T0 + 300_000).toISOString();
    const mine = truth.filter((t) => t.lineId === 1 && t.scoredAt >= since);
    const count = (p: (t: Truth) => boolean) => mine.filter(p).length;
    expect(db.lineStats(1, since)).toEqual({
      total: mine.length,
      pass: count((t) => t.verdict === 'pass'),
      flag: count((t) => t.verdict === 'flag'),
      error: count((t) => t.verdict === 'error'),
      defect: count((t) => t.decision === 'defect'),
      falseAlarm: count((t) => t.decision === 'false_alarm'),
      unreviewed: count((t) => t.verdict === 'flag' && t.decision === null),
    });
  });

  it("the UI's queries use indexes, with and without planner statistics", () => {
    const cursor = db.queryInspections({}, { limit: 10 }).nextCursor;
    const check = () => {
      const plans = {
        latest: db.queryPlan({ kind: 'latestInspections', lineId: 1 }),
        queue: db.queryPlan({ kind: 'unreviewedFlags' }),
        period: db.queryPlan({ kind: 'queryInspections', filters: { from: FROM, to: TO }, page: { cursor } }),
        linePeriod: db.queryPlan({ kind: 'queryInspections', filters: { lineId: 1, from: FROM, to: TO } }),
        lineVerdict: db.queryPlan({ kind: 'queryInspections', filters: { lineId: 1, verdict: 'flag' } }),
        all: db.queryPlan({ kind: 'queryInspections', filters: {}, page: { cursor, order: 'asc' } }),
        report: db.queryPlan({ kind: 'iterateInspections', filters: { from: FROM } }),
        stats: db.queryPlan({ kind: 'lineStats', lineId: 1 }),
        throughput: db.queryPlan({ kind: 'scoredPerTenSeconds' }),
        thresholds: db.queryPlan({ kind: 'periodThresholds', filters: { from: FROM, to: TO } }),
      };
      const uses = (plan: string[], index: string) => plan.some((d) => d.includes(`USING INDEX ${index}`));
      expect(uses(plans.latest, 'inspections_line_time'), plans.latest.join('; ')).toBe(true);
      expect(uses(plans.queue, 'inspections_unreviewed'), plans.queue.join('; ')).toBe(true);
      expect(uses(plans.period, 'inspections_time'), plans.period.join('; ')).toBe(true);
      expect(uses(plans.linePeriod, 'inspections_line_time'), plans.linePeriod.join('; ')).toBe(true);
      expect(uses(plans.lineVerdict, 'inspections_line_time'), plans.lineVerdict.join('; ')).toBe(true);
      expect(uses(plans.all, 'inspections_time'), plans.all.join('; ')).toBe(true);
      expect(uses(plans.report, 'inspections_time'), plans.report.join('; ')).toBe(true);
      expect(uses(plans.stats, 'inspections_line_time'), plans.stats.join('; ')).toBe(true);
      expect(uses(plans.throughput, 'inspections_time'), plans.throughput.join('; ')).toBe(true);
      expect(uses(plans.thresholds, 'inspections_time'), plans.thresholds.join('; ')).toBe(true);
      // Paged queries walk an index in order: no full-table sort.
      for (const [name, plan] of Object.entries(plans)) {
        // (Grouping queries may group in a temp b-tree; they read only an index range.)
        if (!['stats', 'throughput', 'thresholds'].includes(name))
          expect(plan.join('; '), name).not.toMatch(/TEMP B-TREE/);
        expect(plan.join('; '), name).not.toMatch(/SCAN i$|SCAN i;/);
      }
    };
    check();
    raw().exec('ANALYZE');
    db.close();
    db = openDb();
    check();
  });

  it('integrity check is ok after all that', () => {
    expect(db.integrityCheck()).toBe('ok');
    expect(db.verifyAuditChain().ok).toBe(true);
  });
});

describe('training jobs and operators', () => {
  it('marks running jobs interrupted at start-up; queued ones wait; interrupted ones can resume', () => {
    const db = openDb();
    const job = (n: number) =>
      db.createJob({
        settings: { epochs: n, method: 'ganomaly' },
        dataFolder: '/data/good',
        outputFolder: `/models/${n}`,
      });
    const a = db.startJob(job(1).id);
    const b = db.startJob(job(2).id);
    const c = job(3);
    expect(db.updateJobProgress(a.id, { epoch: 3, loss: 0.25 })).toBe(true);
    expect(db.markInterruptedJobs()).toBe(2);
    expect(db.getJob(a.id)).toMatchObject({
      state: 'interrupted',
      progress: { epoch: 3, loss: 0.25 },
      settings: { epochs: 1, method: 'ganomaly' },
      error: 'the station stopped while the job was running',
    });
    expect(db.getJob(b.id)!.state).toBe('interrupted');
    expect(db.getJob(c.id)!.state).toBe('queued');
    expect(db.updateJobProgress(a.id, { epoch: 4 })).toBe(false);
    expect(db.markInterruptedJobs()).toBe(0);

    expect(db.startJob(a.id)).toMatchObject({ state: 'running', error: null, finishedAt: null });
    const model = db.registerModel({ folder: '/models/1', meta: META });
    expect(db.finishJob(a.id, { state: 'done', modelId: model.id })).toMatchObject({
      state: 'done',
      modelId: model.id,
    });
    expect(() => db.finishJob(a.id, { state: 'failed', error: 'late' })).toThrow(/not open \(done\)/);
    expect(db.finishJob(c.id, { state: 'cancelled' }).state).toBe('cancelled');
    // A cancelled job keeps its checkpoint and can be resumed; a finished one cannot start again.
    expect(db.startJob(c.id).state).toBe('running');
    expect(db.finishJob(c.id, { state: 'cancelled' }).state).toBe('cancelled');
    expect(() => db.startJob(a.id)).toThrow(/cannot start \(done\)/);
    expect(db.listJobs().map((j) => j.id)).toEqual([c.id, b.id, a.id]);
  });

  it('upserts operators by name', () => {
    const db = openDb();
    db.upsertOperator('Zoe');
    expect(db.upsertOperator(' Anna ', 'B-17')).toMatchObject({ name: 'Anna', badge: 'B-17' });
    expect(db.upsertOperator('Anna').badge).toBe('B-17');
    expect(db.upsertOperator('Anna', 'B-18').badge).toBe('B-18');
    expect(db.listOperators().map((o) => [o.name, o.badge])).toEqual([
      ['Anna', 'B-18'],
      ['Zoe', null],
    ]);
  });
});

describe('durability', () => {
  it('keeps every committed row when the station process is killed (SIGKILL, no close)', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join('test', 'helpers', 'station-db-child.ts'), file, '300'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('committed') && resolve());
      void exited.then(() => reject(new Error(`child exited before committing: ${stderr}`)));
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // The rows live only in the WAL (never checkpointed), which is what this test is about.
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);

    const db = openDb();
    expect(db.countInspections()).toBe(300);
    expect(db.latestDecision(1)).toMatchObject({ decision: 'defect', comment: 'before the kill' });
    expect(db.verifyAuditChain()).toMatchObject({ ok: true, count: 1 });
    expect(db.integrityCheck()).toBe('ok');
  });
});
