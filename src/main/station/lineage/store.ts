// Model lineage's queries and its hash chain (tables in schema.ts), on the station database's own connection:
// appending a record (a child made from feedback with its images, an activation, a discard), reading a model's
// ancestry, and verifying the chain. Like the decisions' chain (audit-chain.ts), each row hashes its own fields
// and the previous row's hash; a `created` row also hashes a digest of its image rows, so a changed, deleted or
// inserted image row (a model's recorded additions) breaks the row it belongs to.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { GENESIS_HASH, type ChainVerification } from '../audit-chain';
import type { StationDatabase } from '../database';

export type LineageKind = 'created' | 'activated' | 'discarded';
export type LineageImageRole = 'added' | 'held-out' | 'disputed' | 'excluded';

export interface LineageImage {
  inspectionId: number;
  decisionId: number | null;
  sha256: string;
  imageKey: string | null;
  role: LineageImageRole;
  note: string | null;
}

export interface LineageRecord {
  id: number;
  kind: LineageKind;
  modelId: number;
  parentModelId: number | null;
  lineId: number | null;
  operator: string;
  at: string;
  /** Parsed details_json (see CreatedDetails, ActivatedDetails). */
  details: Record<string, unknown>;
  detailsJson: string;
  imagesDigest: string;
  prevHash: string;
  hash: string;
}

/**
 * Names the serialisations below. Never change what they produce for these tags: rows already written were
 * hashed with them. A new field means a new tag and a verifier that knows both.
 */
const RECORD_TAG = 'anomaly-station/lineage/v1';
const IMAGES_TAG = 'anomaly-station/lineage-images/v1';

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
/** Lone surrogates would not read back from SQLite as written (see audit-chain.ts). */
const wellFormed = (s: string): string => s.replace(/\p{Cs}/gu, '\uFFFD');

/** sha256 over a record's image rows in inspection order: the additions as the chain covers them. */
export function imagesDigest(images: readonly LineageImage[]): string {
  const rows = [...images]
    .sort((a, b) => a.inspectionId - b.inspectionId)
    .map((i) => [i.inspectionId, i.decisionId, i.sha256, i.imageKey, i.role, i.note]);
  return sha256(JSON.stringify([IMAGES_TAG, ...rows]));
}

type HashedFields = Omit<LineageRecord, 'hash' | 'details'>;

/** sha256 of a record's fields (details as the exact JSON text stored) and the previous record's hash. */
export function lineageHash(r: HashedFields): string {
  return sha256(
    JSON.stringify([
      RECORD_TAG,
      r.id,
      r.kind,
      r.modelId,
      r.parentModelId,
      r.lineId,
      r.operator,
      r.at,
      r.detailsJson,
      r.imagesDigest,
      r.prevHash,
    ]),
  );
}

const RECORD_SELECT = `SELECT id, kind, model_id AS modelId, parent_model_id AS parentModelId, line_id AS lineId,
  operator, at, details_json AS detailsJson, images_digest AS imagesDigest, prev_hash AS prevHash, hash
  FROM model_lineage`;
const IMAGE_SELECT = `SELECT inspection_id AS inspectionId, decision_id AS decisionId, sha256, image_key AS imageKey,
  role, note FROM model_lineage_images`;

type RecordSqlRow = Omit<LineageRecord, 'details'>;
const toRecord = (r: RecordSqlRow): LineageRecord => ({
  ...r,
  details: JSON.parse(r.detailsJson) as Record<string, unknown>,
});

export interface NewLineageRecord {
  kind: LineageKind;
  modelId: number;
  parentModelId?: number | null;
  lineId?: number | null;
  operator: string;
  at?: Date;
  details: Record<string, unknown>;
  images?: LineageImage[];
}

export class LineageStore {
  private readonly conn: Database.Database;

  constructor(private readonly db: StationDatabase) {
    this.conn = db.connection;
  }

  /**
   * Append a record (and a created record's images) onto the chain head, in one IMMEDIATE transaction that
   * commits durably: joins the caller's transaction when there is one (registering the child with its record).
   */
  append(input: NewLineageRecord): LineageRecord {
    const operator = wellFormed(input.operator.trim());
    if (!operator) throw new Error('a lineage record needs the person who asked for it');
    if ((input.kind === 'created') !== (input.parentModelId != null))
      throw new Error('a created record (and only it) names the parent model');
    const images = (input.images ?? []).map((i) => ({
      ...i,
      note: i.note === null ? null : wellFormed(i.note),
    }));
    if (input.kind !== 'created' && images.length) throw new Error(`a ${input.kind} record has no images`);
    return this.db.transaction(() => {
      const head = this.conn.prepare('SELECT id, hash FROM model_lineage ORDER BY id DESC LIMIT 1').get() as
        { id: number; hash: string } | undefined;
      const fields: HashedFields = {
        id: (head?.id ?? 0) + 1,
        kind: input.kind,
        modelId: input.modelId,
        parentModelId: input.parentModelId ?? null,
        lineId: input.lineId ?? null,
        operator,
        at: (input.at ?? new Date()).toISOString(),
        detailsJson: JSON.stringify(input.details),
        imagesDigest: imagesDigest(images),
        prevHash: head?.hash ?? GENESIS_HASH,
      };
      const hash = lineageHash(fields);
      this.conn
        .prepare(
          `INSERT INTO model_lineage (id, kind, model_id, parent_model_id, line_id, operator, at, details_json,
             images_digest, prev_hash, hash)
           VALUES (@id, @kind, @modelId, @parentModelId, @lineId, @operator, @at, @detailsJson, @imagesDigest,
             @prevHash, @hash)`,
        )
        .run({ ...fields, hash });
      const insert = this.conn.prepare(
        `INSERT INTO model_lineage_images (lineage_id, inspection_id, decision_id, sha256, image_key, role, note)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const i of images)
        insert.run(fields.id, i.inspectionId, i.decisionId, i.sha256, i.imageKey, i.role, i.note);
      return toRecord({ ...fields, hash });
    }, true);
  }

  /** Every record, oldest first (optionally only those about one model). */
  records(modelId?: number): LineageRecord[] {
    const rows =
      modelId === undefined
        ? this.conn.prepare(`${RECORD_SELECT} ORDER BY id`).all()
        : this.conn.prepare(`${RECORD_SELECT} WHERE model_id = ? ORDER BY id`).all(modelId);
    return (rows as RecordSqlRow[]).map(toRecord);
  }

  get(id: number): LineageRecord | undefined {
    const r = this.conn.prepare(`${RECORD_SELECT} WHERE id = ?`).get(id) as RecordSqlRow | undefined;
    return r && toRecord(r);
  }

  /** The record that made `modelId` from its parent (undefined for a model trained from a folder). */
  createdRecord(modelId: number): LineageRecord | undefined {
    const r = this.conn
      .prepare(`${RECORD_SELECT} WHERE model_id = ? AND kind = 'created' ORDER BY id LIMIT 1`)
      .get(modelId) as RecordSqlRow | undefined;
    return r && toRecord(r);
  }

  /** Models made from `modelId`, oldest first. */
  children(modelId: number): LineageRecord[] {
    return (
      this.conn
        .prepare(`${RECORD_SELECT} WHERE parent_model_id = ? AND kind = 'created' ORDER BY id`)
        .all(modelId) as RecordSqlRow[]
    ).map(toRecord);
  }

  /** The created records from `modelId` back to the model trained from a folder: the model's own one first. */
  ancestry(modelId: number): LineageRecord[] {
    const out: LineageRecord[] = [];
    const seen = new Set<number>();
    for (
      let r = this.createdRecord(modelId);
      r && !seen.has(r.id);
      r = this.createdRecord(r.parentModelId!)
    ) {
      seen.add(r.id);
      out.push(r);
    }
    return out;
  }

  images(lineageId: number): LineageImage[] {
    return this.conn
      .prepare(`${IMAGE_SELECT} WHERE lineage_id = ? ORDER BY inspection_id`)
      .all(lineageId) as LineageImage[];
  }

  /** Whether a child is waiting for the engineer, was discarded, or has been activated on a line (ever). */
  status(modelId: number): 'candidate' | 'activated' | 'discarded' | null {
    const rows = this.conn
      .prepare(`SELECT kind FROM model_lineage WHERE model_id = ? ORDER BY id`)
      .all(modelId) as { kind: LineageKind }[];
    if (!rows.some((r) => r.kind === 'created')) return null;
    if (rows.some((r) => r.kind === 'activated')) return 'activated';
    return rows.at(-1)!.kind === 'discarded' ? 'discarded' : 'candidate';
  }

  /**
   * Recompute the chain in id order: each row's link, its image rows' digest and its own hash. Stops at the
   * first row that does not verify and names it; `extra` may add checks per verified row (model folders).
   */
  verify(extra?: (r: LineageRecord) => string | undefined): ChainVerification {
    let prev: { id: number; hash: string } | null = null;
    let count = 0;
    const broken = (id: number, reason: string): ChainVerification => ({
      ok: false,
      count,
      headHash: prev?.hash ?? null,
      firstBadId: id,
      reason,
    });
    const rows = this.conn.prepare(`${RECORD_SELECT} ORDER BY id`).all() as RecordSqlRow[];
    // Image rows that belong to no record (inserted with foreign keys off) are additions nobody recorded.
    const orphan = this.conn
      .prepare(
        `SELECT lineage_id AS id FROM model_lineage_images
         WHERE lineage_id NOT IN (SELECT id FROM model_lineage) LIMIT 1`,
      )
      .get() as { id: number } | undefined;
    for (const row of rows) {
      if (!prev && row.prevHash !== GENESIS_HASH)
        return broken(
          row.id,
          `prev_hash mismatch: lineage record #${row.id} is the first row but does not chain from the genesis value: the records before it were deleted`,
        );
      if (prev && row.prevHash !== prev.hash)
        return broken(
          row.id,
          `prev_hash mismatch: lineage record #${row.id} does not chain from record #${prev.id}: a record was deleted, inserted or moved before it`,
        );
      const digest = imagesDigest(this.images(row.id));
      if (digest !== row.imagesDigest)
        return broken(
          row.id,
          `images mismatch: the images recorded for lineage record #${row.id} (model #${row.modelId}) no longer match its digest: an added or held-out image was changed, deleted or inserted after it was written`,
        );
      if (lineageHash(row) !== row.hash)
        return broken(
          row.id,
          `hash mismatch: lineage record #${row.id} (model #${row.modelId}) no longer matches its hash: the record was changed after it was written`,
        );
      const problem = extra?.(toRecord(row));
      if (problem) return broken(row.id, problem);
      prev = { id: row.id, hash: row.hash };
      count++;
    }
    if (orphan)
      return broken(
        orphan.id,
        `images recorded for lineage record #${orphan.id}, which does not exist: inserted behind the chain's back`,
      );
    return { ok: true, count, headHash: prev?.hash ?? null };
  }
}
