// The hash chain over the decisions table. Each decision row stores prev_hash (the previous row's hash,
// GENESIS_HASH for the first) and hash = sha256 of a canonical serialisation of its own fields plus
// prev_hash. Editing a row breaks its own hash; deleting, inserting or reordering rows breaks the next
// row's prev_hash. Two things a chain alone cannot show: a truncated tail (the last rows deleted), and a
// chain rewritten end to end by someone who recomputes every hash. Both show as soon as the head hash and
// count printed in an earlier audit report no longer match, so reports should print them.
//
// Pure functions, no SQLite: database.ts feeds rows in; tests and migrations can hash rows themselves.
import { createHash } from 'node:crypto';

/** prev_hash of the first decision: a fixed value instead of NULL, so every row has the same shape. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Names the serialisation below. Never change what `canonicalDecision` produces for this tag: rows
 * already written were hashed with it. A new field means a new tag and a verifier that knows both.
 */
const SERIALISATION = 'anomaly-station/decision/v1';

/** The fields a decision's hash covers, as stored in the decisions table. */
export interface ChainedDecision {
  id: number;
  inspectionId: number;
  decision: string;
  operator: string;
  comment: string | null;
  decidedAt: string;
  modelVersion: string | null;
  threshold: number | null;
  correctsDecisionId: number | null;
  prevHash: string;
}

/**
 * A JSON array in a fixed field order: no key-order ambiguity, strings escaped unambiguously, numbers in
 * JavaScript's shortest round-trip form (a REAL read back from SQLite serialises to the same text).
 * Strings must be well-formed UTF-16 (database.ts replaces lone surrogates before storing): JSON.stringify
 * escapes a lone surrogate, and SQLite would hand back U+FFFD, so the hash would not survive a round trip.
 */
export function canonicalDecision(d: ChainedDecision): string {
  return JSON.stringify([
    SERIALISATION,
    d.id,
    d.inspectionId,
    d.decision,
    d.operator,
    d.comment,
    d.decidedAt,
    d.modelVersion,
    d.threshold,
    d.correctsDecisionId,
    d.prevHash,
  ]);
}

/** sha256 (lower-case hex) of the canonical serialisation, prev_hash included. */
export function decisionHash(d: ChainedDecision): string {
  return createHash('sha256').update(canonicalDecision(d), 'utf8').digest('hex');
}

export interface ChainVerification {
  ok: boolean;
  /** Rows that verified: all of them when ok, those before the break otherwise. */
  count: number;
  /** Hash of the last row that verified (the chain head when ok); null for an empty table. */
  headHash: string | null;
  /** The first row that does not verify. */
  firstBadId?: number;
  /** Why it does not: an edited row (hash mismatch) or a missing / moved row (prev_hash mismatch). */
  reason?: string;
}

const short = (h: string): string => `${h.slice(0, 12)}…`;

/**
 * Recompute the chain over rows in id order. Takes an iterable so the caller can stream rows straight
 * from a statement; stops at the first row that does not verify.
 */
export function verifyChain(rows: Iterable<ChainedDecision & { hash: string }>): ChainVerification {
  let prev: { id: number; hash: string } | null = null;
  let count = 0;
  const broken = (id: number, reason: string): ChainVerification => ({
    ok: false,
    count,
    headHash: prev?.hash ?? null,
    firstBadId: id,
    reason,
  });
  for (const row of rows) {
    // Link first: after a deleted row, the next row's own hash is still right but its link is not.
    if (!prev && row.prevHash !== GENESIS_HASH) {
      return broken(
        row.id,
        `prev_hash mismatch: decision #${row.id} is the first row but does not chain from the genesis value: ` +
          `the decisions before it were deleted`,
      );
    }
    if (prev && row.prevHash !== prev.hash) {
      const gap = row.id !== prev.id + 1 ? `; ids jump from #${prev.id} to #${row.id}` : '';
      return broken(
        row.id,
        `prev_hash mismatch: decision #${row.id} does not chain from decision #${prev.id} ` +
          `(its prev_hash is ${short(row.prevHash)}, #${prev.id}'s hash is ${short(prev.hash)}${gap}): ` +
          `a decision was deleted, inserted or moved before it`,
      );
    }
    const recomputed = decisionHash(row);
    if (recomputed !== row.hash) {
      return broken(
        row.id,
        `hash mismatch: decision #${row.id} no longer matches its hash (stored ${short(row.hash)}, ` +
          `recomputed ${short(recomputed)}): the row was changed after it was written`,
      );
    }
    prev = { id: row.id, hash: row.hash };
    count++;
  }
  return { ok: true, count, headHash: prev?.hash ?? null };
}
