// Lineage records as the API, the CLI and the audit report read them, and the check of each child's
// lineage.json. Apart from updates.ts (which runs update jobs) so that reading or verifying lineage loads no
// ML: a report or `station verify-audit` opens a database, not tfjs.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChainResult, LineageEntry, ModelComparison, ModelUpdate } from '../../../common/api';
import type { StationDatabase } from '../database';
import type { LineageStore, LineageRecord } from './store';

/** The lineage file every child model folder carries (its sha256 is in the station's lineage record). */
export const LINEAGE_FILE = 'lineage.json';

/** What a created record's details_json holds (everything the UI, the CLI and the report show about it). */
export interface CreatedDetails {
  method: ModelUpdate['method'];
  childName: string;
  childFolder: string;
  childVersion: string;
  parentName: string;
  parentVersion: string;
  /** sha256 of the child folder's lineage.json as written. */
  lineageSha256: string;
  requestedAt: string;
  selection: ModelUpdate['selection'] & { inspectionIds: number[] | null };
  bank: ModelUpdate['bank'];
  epochs: number | null;
  comparison: ModelComparison;
  warnings: string[];
  seconds: number;
}

/** A lineage record as the API, the CLI and the report show it. */
export function lineageEntry(db: StationDatabase, lineage: LineageStore, r: LineageRecord): LineageEntry {
  const model = db.getModel(r.modelId);
  const parent = r.parentModelId === null ? undefined : db.getModel(r.parentModelId);
  const d = r.details as Partial<CreatedDetails> & { previousModelId?: number | null };
  return {
    recordId: r.id,
    kind: r.kind,
    modelId: r.modelId,
    modelName: model?.name ?? d.childName ?? `#${r.modelId}`,
    modelVersion: model?.version ?? d.childVersion ?? '',
    generation: lineage.ancestry(r.modelId).length + 1,
    parentId: r.parentModelId,
    parentName: parent?.name ?? d.parentName ?? null,
    parentVersion: parent?.version ?? d.parentVersion ?? null,
    lineId: r.lineId,
    lineName: r.lineId === null ? null : (db.getLine(r.lineId)?.name ?? `#${r.lineId}`),
    operator: r.operator,
    at: r.at,
    added: d.selection?.added ?? 0,
    heldOut: d.selection?.heldOut ?? 0,
    reviewers: d.selection?.reviewers ?? [],
    decidedFrom: d.selection?.decidedFrom ?? null,
    decidedTo: d.selection?.decidedTo ?? null,
    method: d.method ?? null,
    images:
      r.kind === 'created'
        ? lineage.images(r.id).map((i) => ({ inspectionId: i.inspectionId, sha256: i.sha256, role: i.role }))
        : [],
    previousModelId: d.previousModelId ?? null,
  };
}

/** The lineage chain, and each child folder's lineage.json against the sha256 its record holds. */
export function verifyLineage(lineage: LineageStore): ChainResult {
  return lineage.verify((r) => {
    if (r.kind !== 'created') return undefined;
    const d = r.details as unknown as CreatedDetails;
    const file = join(d.childFolder, LINEAGE_FILE);
    // A folder moved away or archived is not a break; a changed one is.
    if (!existsSync(file)) return undefined;
    const got = sha256(readFileSync(file));
    return got === d.lineageSha256
      ? undefined
      : `model folder ${d.childFolder}: ${LINEAGE_FILE} differs from the one recorded with lineage record #${r.id} ` +
          `(sha256 ${got.slice(0, 12)}…, recorded ${d.lineageSha256.slice(0, 12)}…): the model's recorded additions were changed`;
  });
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
