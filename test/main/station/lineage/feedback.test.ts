// What an update learns from, decided from a real station database: false alarms of one line and period join,
// confirmed defects never do (not even the same image flagged elsewhere), images different operators disagree
// on are listed and join only when the engineer includes them, an operator correcting themselves is no
// dispute, twins count once, a cap keeps the newest decisions, and a share is held out by the image's hash.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type StationDatabase } from '../../../../src/main/station/database';
import { collectFeedback } from '../../../../src/main/station/lineage/feedback';
import { tempDir } from '../../../helpers/fixtures';
import { fakeModelMeta } from '../../../helpers/station-records';

let tmp: ReturnType<typeof tempDir>;
let db: StationDatabase;
let line: number;
let other: number;
const T0 = Date.parse('2026-03-02T06:00:00.000Z');
const sha = (i: number) => i.toString(16).padStart(64, '0');
/** Inspection number n -> its id. */
const id: Record<number, number> = {};

function scored(
  n: number,
  o: { lineId?: number; verdict?: 'pass' | 'flag'; sha?: number; at?: number } = {},
) {
  id[n] = db.insertInspection({
    lineId: o.lineId ?? line,
    modelId: null,
    modelVersion: 'v1',
    filePath: `/cam/${n}.png`,
    fileSize: 100,
    fileMtimeMs: n,
    sha256: sha(o.sha ?? n),
    receivedAt: o.at ?? T0 + n * 60_000,
    scoredAt: o.at ?? T0 + n * 60_000,
    rawScore: 1,
    threshold: 0.5,
    verdict: o.verdict ?? 'flag',
    originalKey: sha(5000 + n),
  });
}

function decide(n: number, operator: string, decision: 'defect' | 'false_alarm', minute = n) {
  db.appendDecision({
    inspectionId: id[n],
    operator,
    decision,
    decidedAt: T0 + 86_400_000 + minute * 60_000,
    correctsDecisionId: db.latestDecision(id[n])?.id ?? null,
  });
}

beforeEach(() => {
  tmp = tempDir('station-feedback-');
  db = openDatabase(join(tmp.dir, 'station.db'));
  const model = db.registerModel({ folder: '/m', meta: fakeModelMeta('m', 0.5) }).id;
  line = db.addLine({ name: 'A', folder: '/cam/a', modelId: model }).id;
  other = db.addLine({ name: 'B', folder: '/cam/b', modelId: model }).id;
  for (let n = 1; n <= 10; n++) {
    scored(n);
    decide(n, 'Ann', 'false_alarm');
  }
  scored(11); // cleared, then confirmed a defect by someone else: a defect
  decide(11, 'Ann', 'false_alarm');
  decide(11, 'Bob', 'defect', 30);
  scored(12); // Ann: defect; Bob overrules: false alarm -> disputed
  decide(12, 'Ann', 'defect');
  decide(12, 'Bob', 'false_alarm', 31);
  scored(13); // Ann corrects herself: no dispute
  decide(13, 'Ann', 'defect');
  decide(13, 'Ann', 'false_alarm', 32);
  scored(14, { sha: 15 }); // the very image confirmed a defect as #15
  decide(14, 'Ann', 'false_alarm');
  scored(15);
  decide(15, 'Cy', 'defect');
  scored(16, { sha: 1 }); // a twin of #1
  decide(16, 'Cy', 'false_alarm');
  scored(17, { verdict: 'pass' });
  scored(18, { lineId: other });
  decide(18, 'Ann', 'false_alarm');
  scored(19, { at: T0 - 86_400_000 }); // the day before the period
  decide(19, 'Ann', 'false_alarm');
});

afterEach(() => {
  db.close();
  tmp.cleanup();
});

const period = { from: new Date(T0).toISOString(), to: new Date(T0 + 3_600_000).toISOString() };
const ofIds = (list: { inspectionId: number }[]) => list.map((x) => x.inspectionId).sort((a, b) => a - b);
const nums = (...ns: number[]) => ns.map((n) => id[n]).sort((a, b) => a - b);

describe('collectFeedback', () => {
  it("takes the line's false alarms of the period and nothing a person called a defect", () => {
    const f = collectFeedback(db, { lineId: line, ...period });
    expect(ofIds(f.falseAlarms)).toEqual(nums(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13));
    expect(f.disputed.map((d) => d.inspectionId)).toEqual([id[12]]);
    expect(f.disputed[0]).toMatchObject({
      included: false,
      decisions: [
        { operator: 'Ann', decision: 'defect' },
        { operator: 'Bob', decision: 'false_alarm' },
      ],
    });
    expect(f.excluded).toEqual([
      expect.objectContaining({
        inspectionId: id[14],
        reason: expect.stringMatching(/confirmed a defect \(inspection #\d+\)/),
      }),
      expect.objectContaining({ inspectionId: id[16], reason: `the same image as inspection #${id[1]}` }),
    ]);
    // Confirmed defects (the latest word) are what the child is checked on; passed parts estimate its false alarms.
    expect(ofIds(f.defects)).toEqual(nums(11, 15));
    expect(ofIds(f.passed)).toEqual(nums(17));
    expect(f.reviewers).toEqual(['Ann']);
    expect(f.decidedFrom).toBe(new Date(T0 + 86_400_000 + 60_000).toISOString());
    expect(f.decidedTo).toBe(new Date(T0 + 86_400_000 + 32 * 60_000).toISOString());
    // Never a confirmed defect's image in the good set, by id or by hash.
    const defectShas = new Set(f.defects.map((d) => d.sha256));
    expect(f.falseAlarms.some((x) => defectShas.has(x.sha256))).toBe(false);
  });

  it('holds a stable share out by the image hash, at least one, and adds the rest', () => {
    const a = collectFeedback(db, { lineId: line, ...period });
    const b = collectFeedback(db, { lineId: line, ...period, holdout: 0.2 });
    const held = a.falseAlarms.filter((x) => x.role === 'held-out');
    expect(held.length).toBeGreaterThanOrEqual(1);
    expect(held.length).toBeLessThan(a.falseAlarms.length);
    expect(b.falseAlarms.map((x) => x.role)).toEqual(a.falseAlarms.map((x) => x.role));
    expect(
      collectFeedback(db, { lineId: line, ...period, holdout: 0 }).falseAlarms.filter(
        (x) => x.role === 'held-out',
      ),
    ).toHaveLength(1);
  });

  it('adds a disputed image only when the engineer includes it, and says so', () => {
    const f = collectFeedback(db, { lineId: line, ...period, includeDisputed: [id[12]] });
    expect(f.disputed).toEqual([expect.objectContaining({ inspectionId: id[12], included: true })]);
    const twelve = f.falseAlarms.find((x) => x.inspectionId === id[12])!;
    expect(twelve.note).toMatch(/included by the engineer/);
    expect(twelve.reviewers).toEqual(['Bob']);
    expect(f.reviewers).toEqual(['Ann', 'Bob']);
  });

  it('keeps the most recent decisions up to the cap and lists the rest', () => {
    const f = collectFeedback(db, { lineId: line, ...period, maxImages: 4 });
    expect(ofIds(f.falseAlarms)).toEqual(nums(8, 9, 10, 13));
    expect(f.excluded.filter((e) => /over the cap of 4/.test(e.reason))).toHaveLength(7);
  });

  it('takes a chosen set: a confirmed defect in it is refused with the reason, another line is an error', () => {
    const f = collectFeedback(db, { lineId: line, inspectionIds: [id[1], id[2], id[15], id[17], id[19]] });
    expect(ofIds(f.falseAlarms)).toEqual(nums(1, 2, 19));
    expect(f.excluded).toEqual([
      expect.objectContaining({ inspectionId: id[17], reason: 'not reviewed' }),
      expect.objectContaining({ inspectionId: id[15], reason: 'confirmed defect: never part of a good set' }),
    ]);
    expect(() => collectFeedback(db, { lineId: line, inspectionIds: [id[18]] })).toThrow(/is not on line A/);
    expect(() => collectFeedback(db, { lineId: line, inspectionIds: [99_999] })).toThrow(
      /no inspection #99999/,
    );
  });
});
