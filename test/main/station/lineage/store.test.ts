// The model lineage's hash chain on a real SQLite file: records and their images append onto the chain, the
// tables refuse UPDATE and DELETE, and every way of tampering with a record or a child's recorded additions
// (edited, deleted or inserted image rows, an edited or deleted record) is named by verify.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type StationDatabase } from '../../../../src/main/station/database';
import { imagesDigest, LineageStore, type LineageImage } from '../../../../src/main/station/lineage/store';
import { tempDir } from '../../../helpers/fixtures';
import { fakeModelMeta } from '../../../helpers/station-records';

let tmp: ReturnType<typeof tempDir>;
let file: string;
let db: StationDatabase;
let store: LineageStore;
let ids: { parent: number; child: number; grandchild: number; line: number; inspections: number[] };

const sha = (i: number) => i.toString(16).padStart(64, '0');

function image(inspectionId: number, role: LineageImage['role'], note: string | null = null): LineageImage {
  return {
    inspectionId,
    decisionId: null,
    sha256: sha(inspectionId),
    imageKey: role === 'added' ? sha(1000 + inspectionId) : null,
    role,
    note,
  };
}

beforeEach(() => {
  tmp = tempDir('station-lineage-');
  file = join(tmp.dir, 'station.db');
  db = openDatabase(file);
  store = new LineageStore(db);
  const parent = db.registerModel({ folder: '/models/p', meta: fakeModelMeta('p', 0.5) }).id;
  const child = db.registerModel({ folder: '/models/p-u1', meta: fakeModelMeta('p-u1', 0.6) }).id;
  const grandchild = db.registerModel({ folder: '/models/p-u2', meta: fakeModelMeta('p-u2', 0.7) }).id;
  const line = db.addLine({ name: 'A', folder: '/cam/a', modelId: parent }).id;
  const inspections = [1, 2, 3, 4].map((i) =>
    db.insertInspection({
      lineId: line,
      modelId: parent,
      modelVersion: 'v',
      filePath: `/cam/a/${i}.png`,
      fileSize: 1,
      fileMtimeMs: i,
      sha256: sha(i),
      receivedAt: 1000 * i,
      scoredAt: 1000 * i,
      rawScore: 1,
      threshold: 0.5,
      verdict: 'flag',
    }),
  );
  ids = { parent, child, grandchild, line, inspections };
  store.append({
    kind: 'created',
    modelId: child,
    parentModelId: parent,
    lineId: line,
    operator: 'Eve',
    details: { childName: 'p-u1', selection: { added: 2 } },
    images: [
      image(inspections[0], 'added'),
      image(inspections[1], 'added'),
      image(inspections[2], 'held-out'),
    ],
  });
  store.append({
    kind: 'activated',
    modelId: child,
    lineId: line,
    operator: 'Eve',
    details: { previousModelId: parent },
  });
  store.append({
    kind: 'created',
    modelId: grandchild,
    parentModelId: child,
    lineId: line,
    operator: 'Eve',
    details: { childName: 'p-u2' },
    images: [
      image(inspections[3], 'added'),
      image(inspections[2], 'disputed', 'Ann defect, Bob false_alarm'),
    ],
  });
  store.append({ kind: 'discarded', modelId: grandchild, operator: 'Eve', details: {} });
});

afterEach(() => {
  if (db.isOpen) db.close();
  tmp.cleanup();
});

/** What someone with a SQLite tool and the will to hide it does: triggers dropped, foreign keys off. */
function tamper(sql: string): void {
  db.close();
  const r = new Database(file);
  for (const t of [
    'model_lineage_no_update',
    'model_lineage_no_delete',
    'model_lineage_images_no_update',
    'model_lineage_images_no_delete',
  ])
    r.exec(`DROP TRIGGER IF EXISTS ${t}`);
  r.pragma('foreign_keys = OFF');
  r.exec(sql);
  r.close();
  db = openDatabase(file);
  store = new LineageStore(db);
}

describe('the lineage chain', () => {
  it('records children, activations and discards, and a model ancestry', () => {
    const v = store.verify();
    expect(v).toMatchObject({ ok: true, count: 4 });
    expect(v.headHash).toBe(store.get(4)!.hash);
    expect(store.ancestry(ids.grandchild).map((r) => [r.modelId, r.parentModelId])).toEqual([
      [ids.grandchild, ids.child],
      [ids.child, ids.parent],
    ]);
    expect(store.ancestry(ids.parent)).toEqual([]);
    expect(store.status(ids.child)).toBe('activated');
    expect(store.status(ids.grandchild)).toBe('discarded');
    expect(store.status(ids.parent)).toBeNull();
    expect(store.children(ids.parent).map((r) => r.modelId)).toEqual([ids.child]);
    expect(store.images(1).map((i) => [i.inspectionId, i.role])).toEqual([
      [ids.inspections[0], 'added'],
      [ids.inspections[1], 'added'],
      [ids.inspections[2], 'held-out'],
    ]);
    // The digest covers the image rows in inspection order, whatever order they were given in.
    expect(store.get(1)!.imagesDigest).toBe(imagesDigest([...store.images(1)].reverse()));
  });

  it('refuses to change or delete records and their images', () => {
    const conn = db.connection;
    expect(() => conn.prepare("UPDATE model_lineage SET operator = 'Mallory' WHERE id = 1").run()).toThrow(
      /append-only/,
    );
    expect(() => conn.prepare('DELETE FROM model_lineage WHERE id = 4').run()).toThrow(/append-only/);
    expect(() =>
      conn.prepare("UPDATE model_lineage_images SET role = 'added' WHERE lineage_id = 3").run(),
    ).toThrow(/append-only/);
    expect(() => conn.prepare('DELETE FROM model_lineage_images WHERE lineage_id = 1').run()).toThrow(
      /append-only/,
    );
    expect(store.verify().ok).toBe(true);
  });

  it('names a record whose details were edited', () => {
    tamper(
      `UPDATE model_lineage SET details_json = '{"childName":"p-u1","selection":{"added":200}}' WHERE id = 1`,
    );
    const v = store.verify();
    expect(v).toMatchObject({ ok: false, count: 0, headHash: null, firstBadId: 1 });
    expect(v.reason).toMatch(/^hash mismatch: lineage record #1 .*changed after it was written/);
  });

  it('names a record whose recorded additions were changed, deleted or added to', () => {
    tamper(`UPDATE model_lineage_images SET role = 'added' WHERE lineage_id = 3 AND role = 'disputed'`);
    let v = store.verify();
    expect(v).toMatchObject({ ok: false, count: 2, firstBadId: 3 });
    expect(v.reason).toMatch(/^images mismatch: the images recorded for lineage record #3/);

    tamper(`UPDATE model_lineage_images SET role = 'disputed' WHERE lineage_id = 3 AND inspection_id = ${ids.inspections[2]};
      DELETE FROM model_lineage_images WHERE lineage_id = 1 AND inspection_id = ${ids.inspections[1]}`);
    v = store.verify();
    expect(v).toMatchObject({ ok: false, firstBadId: 1 });
    expect(v.reason).toMatch(/images mismatch/);
  });

  it('names an image inserted into a record, and one that belongs to no record', () => {
    tamper(
      `INSERT INTO model_lineage_images (lineage_id, inspection_id, sha256, role) VALUES (1, ${ids.inspections[3]}, '${sha(9)}', 'added')`,
    );
    expect(store.verify()).toMatchObject({ ok: false, firstBadId: 1 });
    tamper(`DELETE FROM model_lineage_images WHERE lineage_id = 1 AND inspection_id = ${ids.inspections[3]};
      INSERT INTO model_lineage_images (lineage_id, inspection_id, sha256, role) VALUES (77, ${ids.inspections[3]}, '${sha(9)}', 'added')`);
    const v = store.verify();
    expect(v).toMatchObject({ ok: false, count: 4, firstBadId: 77 });
    expect(v.reason).toMatch(/does not exist: inserted behind the chain's back/);
  });

  it('names the record after a deleted one', () => {
    tamper('DELETE FROM model_lineage WHERE id = 2');
    const v = store.verify();
    expect(v).toMatchObject({ ok: false, count: 1, firstBadId: 3 });
    expect(v.reason).toMatch(/^prev_hash mismatch: lineage record #3 does not chain from record #1/);
  });

  it('only a created record names a parent, and only it has images', () => {
    expect(() =>
      store.append({
        kind: 'activated',
        modelId: ids.child,
        parentModelId: ids.parent,
        operator: 'Eve',
        details: {},
      }),
    ).toThrow(/only it/);
    expect(() =>
      store.append({
        kind: 'discarded',
        modelId: ids.child,
        operator: 'Eve',
        details: {},
        images: [image(ids.inspections[0], 'added')],
      }),
    ).toThrow(/has no images/);
    expect(() =>
      store.append({ kind: 'discarded', modelId: ids.child, operator: '  ', details: {} }),
    ).toThrow(/person who asked/);
    expect(store.verify()).toMatchObject({ ok: true, count: 4 });
  });
});
