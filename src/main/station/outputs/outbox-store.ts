// The plant outputs' queries: their configuration (outputs) and the messages they owe (outbox), on the
// station database's own connection. The tables and the triggers that fill the outbox are in
// outbox-schema.ts; this module only reads them, saves configurations and marks messages sent.
import type Database from 'better-sqlite3';
import type { StationDatabase, Verdict } from '../database';

export type OutputKind = 'mqtt' | 'opcua';

export interface OutputRow<C = Record<string, unknown>> {
  id: number;
  kind: OutputKind;
  /** null: every line (the station's OPC UA server). */
  lineId: number | null;
  enabled: boolean;
  /** Whether operators' decisions are announced too. */
  decisions: boolean;
  /** Never holds a secret: those are in `secrets`, read only by the output that needs them. */
  config: C;
  createdAt: string;
  updatedAt: string;
}

/** One message an output owes, with what it needs to render it (messages.ts). */
export interface OutboxMessage {
  /** The outbox row id: delivery order. */
  seq: number;
  kind: 'inspection' | 'decision';
  inspection: {
    id: number;
    lineId: number;
    lineName: string;
    filePath: string;
    sha256: string | null;
    rawScore: number | null;
    normalizedScore: number | null;
    threshold: number | null;
    verdict: Verdict;
    errorText: string | null;
    modelVersion: string | null;
    receivedAt: string;
    scoredAt: string;
  };
  decision: {
    id: number;
    decision: 'defect' | 'false_alarm';
    operator: string;
    comment: string | null;
    decidedAt: string;
    correctsDecisionId: number | null;
  } | null;
}

interface OutputSqlRow {
  id: number;
  kind: OutputKind;
  lineId: number | null;
  enabled: number;
  decisions: number;
  configJson: string;
  createdAt: string;
  updatedAt: string;
}

const OUTPUT_SELECT = `SELECT id, kind, line_id AS lineId, enabled, decisions, config_json AS configJson,
  created_at AS createdAt, updated_at AS updatedAt FROM outputs`;

const PENDING = `SELECT o.id AS seq, o.kind,
    i.id AS iId, i.line_id AS iLineId, l.name AS iLineName, i.file_path AS iFilePath, i.sha256 AS iSha256,
    i.raw_score AS iRawScore, i.normalized_score AS iNormalizedScore, i.threshold AS iThreshold,
    i.verdict AS iVerdict, i.error_text AS iErrorText, i.model_version AS iModelVersion,
    i.received_at AS iReceivedAt, i.scored_at AS iScoredAt,
    d.id AS dId, d.decision AS dDecision, d.operator AS dOperator, d.comment AS dComment,
    d.decided_at AS dDecidedAt, d.corrects_decision_id AS dCorrectsDecisionId
  FROM outbox o
  JOIN inspections i ON i.id = o.inspection_id
  JOIN lines l ON l.id = i.line_id
  LEFT JOIN decisions d ON d.id = o.decision_id
  WHERE o.output_id = ? AND o.sent_at IS NULL AND o.id > ?
  ORDER BY o.id LIMIT ?`;

const nowIso = (): string => new Date().toISOString();

function toOutput<C>(r: OutputSqlRow): OutputRow<C> {
  const { configJson, enabled, decisions, ...rest } = r;
  return { ...rest, enabled: enabled === 1, decisions: decisions === 1, config: JSON.parse(configJson) as C };
}

export class OutboxStore {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly station: StationDatabase) {
    this.db = station.connection;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  // ---------------------------------------------------------------------------------- configuration

  listOutputs<C = Record<string, unknown>>(): OutputRow<C>[] {
    return (this.stmt(`${OUTPUT_SELECT} ORDER BY id`).all() as OutputSqlRow[]).map((r) => toOutput<C>(r));
  }

  getOutput<C = Record<string, unknown>>(id: number): OutputRow<C> | undefined {
    const r = this.stmt(`${OUTPUT_SELECT} WHERE id = ?`).get(id) as OutputSqlRow | undefined;
    return r && toOutput<C>(r);
  }

  findOutput<C = Record<string, unknown>>(kind: OutputKind, lineId: number | null): OutputRow<C> | undefined {
    const r = this.stmt(`${OUTPUT_SELECT} WHERE kind = ? AND ifnull(line_id, 0) = ifnull(?, 0)`).get(
      kind,
      lineId,
    ) as OutputSqlRow | undefined;
    return r && toOutput<C>(r);
  }

  /**
   * Create or replace the output of `kind` for `lineId` (what a person typed: a durable commit). `secrets`
   * keys set to undefined keep the stored value, null removes it. Messages owed stay owed.
   */
  saveOutput<C>(input: {
    kind: OutputKind;
    lineId: number | null;
    enabled: boolean;
    decisions: boolean;
    config: C;
    secrets?: Record<string, string | null | undefined>;
  }): OutputRow<C> {
    return this.station.transaction(() => {
      const at = nowIso();
      const existing = this.findOutput(input.kind, input.lineId);
      const secrets = existing ? this.secrets(existing.id) : {};
      for (const [k, v] of Object.entries(input.secrets ?? {})) {
        if (v === null) delete secrets[k];
        else if (v !== undefined) secrets[k] = v;
      }
      const config = JSON.stringify(input.config);
      if (existing) {
        this.stmt(
          `UPDATE outputs SET enabled = ?, decisions = ?, config_json = ?, secrets_json = ?, updated_at = ?
           WHERE id = ?`,
        ).run(
          input.enabled ? 1 : 0,
          input.decisions ? 1 : 0,
          config,
          JSON.stringify(secrets),
          at,
          existing.id,
        );
        return this.getOutput<C>(existing.id)!;
      }
      const { id } = this.stmt(
        `INSERT INTO outputs (kind, line_id, enabled, decisions, config_json, secrets_json, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      ).get(
        input.kind,
        input.lineId,
        input.enabled ? 1 : 0,
        input.decisions ? 1 : 0,
        config,
        JSON.stringify(secrets),
        at,
        at,
      ) as { id: number };
      return this.getOutput<C>(id)!;
    }, true);
  }

  /** Remove an output and the messages it still owed (they were for it alone). */
  removeOutput(id: number): boolean {
    return this.station.transaction(
      () => this.stmt('DELETE FROM outputs WHERE id = ?').run(id).changes > 0,
      true,
    );
  }

  /** The output's stored secrets (passwords), for the output itself: never for a client. */
  secrets(id: number): Record<string, string> {
    const r = this.stmt('SELECT secrets_json AS s FROM outputs WHERE id = ?').get(id) as
      { s: string } | undefined;
    return r ? (JSON.parse(r.s) as Record<string, string>) : {};
  }

  // -------------------------------------------------------------------------------------- messages

  /** The next unsent messages of an output after `afterSeq`, oldest first. */
  pending(outputId: number, limit: number, afterSeq = 0): OutboxMessage[] {
    const rows = this.stmt(PENDING).all(outputId, afterSeq, limit) as Record<string, unknown>[];
    return rows.map((r) => ({
      seq: r.seq as number,
      kind: r.kind as OutboxMessage['kind'],
      inspection: {
        id: r.iId as number,
        lineId: r.iLineId as number,
        lineName: r.iLineName as string,
        filePath: r.iFilePath as string,
        sha256: r.iSha256 as string | null,
        rawScore: r.iRawScore as number | null,
        normalizedScore: r.iNormalizedScore as number | null,
        threshold: r.iThreshold as number | null,
        verdict: r.iVerdict as Verdict,
        errorText: r.iErrorText as string | null,
        modelVersion: r.iModelVersion as string | null,
        receivedAt: r.iReceivedAt as string,
        scoredAt: r.iScoredAt as string,
      },
      decision:
        r.dId === null
          ? null
          : {
              id: r.dId as number,
              decision: r.dDecision as 'defect' | 'false_alarm',
              operator: r.dOperator as string,
              comment: r.dComment as string | null,
              decidedAt: r.dDecidedAt as string,
              correctsDecisionId: r.dCorrectsDecisionId as number | null,
            },
    }));
  }

  /**
   * Mark an output's messages up to and including `seq` sent (delivery is in order, so what was delivered is
   * always a prefix). A plain NORMAL-sync commit: a power cut can only make a message be sent again.
   */
  markSent(outputId: number, seq: number): number {
    return this.stmt('UPDATE outbox SET sent_at = ? WHERE output_id = ? AND sent_at IS NULL AND id <= ?').run(
      nowIso(),
      outputId,
      seq,
    ).changes;
  }

  /** Messages an output still owes. */
  backlog(outputId: number): number {
    return (
      this.stmt('SELECT count(*) AS n FROM outbox WHERE output_id = ? AND sent_at IS NULL').get(outputId) as {
        n: number;
      }
    ).n;
  }

  /** Delete messages sent before `before` (kept a while to look into what was sent when). */
  pruneSent(before: Date): number {
    return this.stmt('DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?').run(before.toISOString())
      .changes;
  }

  /** Every outbox row of an output (tests and diagnostics). */
  rows(outputId: number): { seq: number; kind: string; inspectionId: number; sentAt: string | null }[] {
    return this.stmt(
      `SELECT id AS seq, kind, inspection_id AS inspectionId, sent_at AS sentAt FROM outbox
       WHERE output_id = ? ORDER BY id`,
    ).all(outputId) as { seq: number; kind: string; inspectionId: number; sentAt: string | null }[];
  }
}
