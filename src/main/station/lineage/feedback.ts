// What operators' decisions offer a model update: on one line, the inspections cleared as false alarms (in a
// period, or a chosen set), which of them may join the good set and which are held out to calibrate the child,
// the confirmed defects the child must still flag, and a sample of passed parts for its false-alarm estimate.
//
// Guard rails, all decided here from the hash-chained decisions:
// - a confirmed defect never enters a good set: an inspection whose latest decision is 'defect' is never a
//   false alarm, and a false alarm whose image (sha256) was confirmed a defect anywhere is left out;
// - an image different operators disagree on (their latest decisions differ) is listed for the engineer and
//   joins only when the engineer includes it by id;
// - one update takes at most `maxImages` false alarms (the most recently decided), so one day's drift cannot
//   replace what the model knows.
import { createHash } from 'node:crypto';
import type { StationDatabase } from '../database';

/** A false alarm that may become good data. */
export interface FeedbackImage {
  inspectionId: number;
  /** The latest decision (the false alarm). */
  decisionId: number;
  sha256: string;
  /** The image as the scoring model saw it (artifact key), if stored. */
  originalKey: string | null;
  /** The model that scored it (its input handling decides whether originalKey can be reused). */
  modelId: number | null;
  filePath: string;
  scoredAt: string;
  decidedAt: string;
  /** Everyone whose decision cleared it. */
  reviewers: string[];
  /** added: joins the good set; held-out: calibrates and checks the child, never joins it. */
  role: 'added' | 'held-out';
  note: string | null;
}

export interface DisputedImage {
  inspectionId: number;
  decisionId: number;
  sha256: string;
  filePath: string;
  decisions: { operator: string; decision: 'defect' | 'false_alarm'; decidedAt: string }[];
  /** The engineer chose to include it (its latest decision is a false alarm). */
  included: boolean;
}

export interface ExcludedImage {
  inspectionId: number;
  decisionId: number | null;
  sha256: string;
  reason: string;
}

/** A past inspection the comparison scores again (a confirmed defect or a passed part). */
export interface PastImage {
  inspectionId: number;
  sha256: string;
  originalKey: string | null;
  modelId: number | null;
  filePath: string;
}

export interface FeedbackOptions {
  lineId: number;
  /** Period by scoring time (end exclusive); absent: since the first / up to now. */
  from?: string;
  to?: string;
  /** A chosen set (History): only these inspections, which must be on the line. */
  inspectionIds?: number[];
  /** Disputed images the engineer accepts as good after looking at them. */
  includeDisputed?: number[];
  /** Most false alarms one update takes (default DEFAULT_MAX_IMAGES). */
  maxImages?: number;
  /** Share of the false alarms held out to calibrate and check the child (default 0.2). */
  holdout?: number;
  /** Confirmed defects to check the child's recall on (newest first; default 500). */
  maxDefects?: number;
  /** Passed parts of the period for the false-alarm estimate (newest first; default 100). */
  maxPassed?: number;
}

export interface Feedback {
  lineId: number;
  falseAlarms: FeedbackImage[];
  disputed: DisputedImage[];
  excluded: ExcludedImage[];
  defects: PastImage[];
  passed: PastImage[];
  /** Everyone whose decisions made the false alarms used, sorted. */
  reviewers: string[];
  /** First and last decision time of the false alarms used. */
  decidedFrom: string | null;
  decidedTo: string | null;
  maxImages: number;
}

export const DEFAULT_MAX_IMAGES = 1000;
export const DEFAULT_FEEDBACK_HOLDOUT = 0.2;

interface CandidateRow {
  id: number;
  sha256: string | null;
  originalKey: string | null;
  modelId: number | null;
  filePath: string;
  scoredAt: string;
  decision: 'defect' | 'false_alarm';
  lastDecisionId: number;
}

interface DecisionRow {
  id: number;
  operator: string;
  decision: 'defect' | 'false_alarm';
  decidedAt: string;
}

const CANDIDATE_COLUMNS = `i.id, i.sha256, i.original_key AS originalKey, i.model_id AS modelId, i.file_path AS filePath,
  i.scored_at AS scoredAt, i.decision, i.last_decision_id AS lastDecisionId`;

/** Stable share by the image's hash (the same image is held out whichever update looks at it). */
function heldOutShare(sha256: string): number {
  return createHash('sha256').update(`feedback-holdout:${sha256}`).digest().readUInt32BE(0) / 0x100000000;
}

/** Everything an update of the line's model could use, decided from the database alone (no images read). */
export function collectFeedback(db: StationDatabase, o: FeedbackOptions): Feedback {
  const conn = db.connection;
  const line = db.getLine(o.lineId);
  if (!line) throw new Error(`no line #${o.lineId}`);
  const maxImages = o.maxImages ?? DEFAULT_MAX_IMAGES;
  const holdout = o.holdout ?? DEFAULT_FEEDBACK_HOLDOUT;
  const includeDisputed = new Set(o.includeDisputed ?? []);
  const from = o.from ?? '0000-01-01T00:00:00.000Z';
  const to = o.to ?? '9999-12-31T23:59:59.999Z';

  let candidates: CandidateRow[];
  const excluded: ExcludedImage[] = [];
  if (o.inspectionIds) {
    const get = conn.prepare(
      `SELECT ${CANDIDATE_COLUMNS}, i.line_id AS lineId FROM inspections i WHERE i.id = ?`,
    );
    candidates = [];
    for (const id of [...new Set(o.inspectionIds)]) {
      const r = get.get(id) as
        (CandidateRow & { lineId: number; decision: CandidateRow['decision'] | null }) | undefined;
      if (!r) throw new Error(`no inspection #${id}`);
      if (r.lineId !== o.lineId) throw new Error(`inspection #${id} is not on line ${line.name}`);
      if (r.decision === null)
        excluded.push({ inspectionId: id, decisionId: null, sha256: r.sha256 ?? '', reason: 'not reviewed' });
      else candidates.push(r as CandidateRow);
    }
  } else {
    candidates = conn
      .prepare(
        `SELECT ${CANDIDATE_COLUMNS} FROM inspections i
         WHERE i.line_id = ? AND i.scored_at >= ? AND i.scored_at < ? AND i.decision IS NOT NULL
         ORDER BY i.id`,
      )
      .all(o.lineId, from, to) as CandidateRow[];
  }

  const decisionsOf = conn.prepare(
    `SELECT id, operator, decision, decided_at AS decidedAt FROM decisions WHERE inspection_id = ? ORDER BY id`,
  );
  const confirmedDefect = conn.prepare(
    `SELECT id FROM inspections WHERE sha256 = ? AND decision = 'defect' ORDER BY id LIMIT 1`,
  );
  const disputed: DisputedImage[] = [];
  const accepted: Omit<FeedbackImage, 'role' | 'note'>[] = [];
  const seen = new Map<string, number>();
  for (const c of candidates) {
    const sha256 = c.sha256 ?? '';
    if (c.decision === 'defect') {
      // Confirmed defects are what the child is checked against, never good data.
      if (o.inspectionIds)
        excluded.push({
          inspectionId: c.id,
          decisionId: c.lastDecisionId,
          sha256,
          reason: 'confirmed defect: never part of a good set',
        });
      continue;
    }
    const decisions = decisionsOf.all(c.id) as DecisionRow[];
    // Each operator's own latest word (an operator correcting themselves is not a disagreement).
    const byOperator = new Map<string, DecisionRow>();
    for (const d of decisions) byOperator.set(d.operator, d);
    const views = new Set([...byOperator.values()].map((d) => d.decision));
    const latest = decisions.at(-1)!;
    if (views.size > 1) {
      const included = includeDisputed.has(c.id);
      disputed.push({
        inspectionId: c.id,
        decisionId: latest.id,
        sha256,
        filePath: c.filePath,
        decisions: decisions.map((d) => ({
          operator: d.operator,
          decision: d.decision,
          decidedAt: d.decidedAt,
        })),
        included,
      });
      if (!included) continue;
    }
    if (!sha256) {
      excluded.push({ inspectionId: c.id, decisionId: latest.id, sha256, reason: 'no image hash recorded' });
      continue;
    }
    const defect = confirmedDefect.get(sha256) as { id: number } | undefined;
    if (defect) {
      excluded.push({
        inspectionId: c.id,
        decisionId: latest.id,
        sha256,
        reason: `the same image was confirmed a defect (inspection #${defect.id}): never part of a good set`,
      });
      continue;
    }
    const twin = seen.get(sha256);
    if (twin !== undefined) {
      excluded.push({
        inspectionId: c.id,
        decisionId: latest.id,
        sha256,
        reason: `the same image as inspection #${twin}`,
      });
      continue;
    }
    seen.set(sha256, c.id);
    accepted.push({
      inspectionId: c.id,
      decisionId: latest.id,
      sha256,
      originalKey: c.originalKey,
      modelId: c.modelId,
      filePath: c.filePath,
      scoredAt: c.scoredAt,
      decidedAt: latest.decidedAt,
      reviewers: [...byOperator.values()].filter((d) => d.decision === 'false_alarm').map((d) => d.operator),
    });
  }

  // The cap: the most recently decided false alarms; the rest are listed.
  accepted.sort((a, b) => b.decidedAt.localeCompare(a.decidedAt) || b.inspectionId - a.inspectionId);
  for (const a of accepted.splice(maxImages))
    excluded.push({
      inspectionId: a.inspectionId,
      decisionId: a.decisionId,
      sha256: a.sha256,
      reason: `over the cap of ${maxImages} false alarms per update (older decisions are left for the next)`,
    });
  accepted.sort((a, b) => a.inspectionId - b.inspectionId);

  const falseAlarms: FeedbackImage[] = accepted.map((a) => ({
    ...a,
    role: heldOutShare(a.sha256) < holdout ? 'held-out' : 'added',
    note: includeDisputed.has(a.inspectionId) ? 'disputed; included by the engineer' : null,
  }));
  // Something to check the child on, and something to add: with three or more, at least one of each.
  if (falseAlarms.length >= 3 && !falseAlarms.some((f) => f.role === 'held-out')) {
    const lowest = falseAlarms.reduce((a, b) => (heldOutShare(a.sha256) <= heldOutShare(b.sha256) ? a : b));
    lowest.role = 'held-out';
  }
  if (falseAlarms.length && falseAlarms.every((f) => f.role === 'held-out')) {
    const highest = falseAlarms.reduce((a, b) => (heldOutShare(a.sha256) >= heldOutShare(b.sha256) ? a : b));
    highest.role = 'added';
  }

  const past = (sql: string, ...params: unknown[]): PastImage[] =>
    (conn.prepare(sql).all(...params) as (PastImage & { sha256: string | null })[]).map((r) => ({
      ...r,
      sha256: r.sha256 ?? '',
    }));
  const PAST_COLUMNS = `i.id AS inspectionId, i.sha256, i.original_key AS originalKey, i.model_id AS modelId,
    i.file_path AS filePath`;
  const defects = past(
    `SELECT ${PAST_COLUMNS} FROM inspections i WHERE i.line_id = ? AND i.decision = 'defect'
     ORDER BY i.id DESC LIMIT ?`,
    o.lineId,
    o.maxDefects ?? 500,
  );
  const passed = past(
    `SELECT ${PAST_COLUMNS} FROM inspections i
     WHERE i.line_id = ? AND i.scored_at >= ? AND i.scored_at < ? AND i.verdict = 'pass' AND i.decision IS NULL
     ORDER BY i.scored_at DESC, i.id DESC LIMIT ?`,
    o.lineId,
    from,
    to,
    o.maxPassed ?? 100,
  );

  const times = falseAlarms.map((f) => f.decidedAt).sort();
  return {
    lineId: o.lineId,
    falseAlarms,
    disputed,
    excluded,
    defects,
    passed,
    reviewers: [...new Set(falseAlarms.flatMap((f) => f.reviewers))].sort(),
    decidedFrom: times[0] ?? null,
    decidedTo: times.at(-1) ?? null,
    maxImages,
  };
}
