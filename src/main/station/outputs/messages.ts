// What the plant outputs say: the JSON of an inspection or decision message and of a line's status, and the
// MQTT topics they go to. Rendered from the outbox's rows, which never change, so a message sent again after
// a reconnect or a restart is the same bytes; consumers drop duplicates by `id` (inspection messages) or
// `id` + `inspectionId` (decision messages).

import type { OutboxMessage } from './outbox-store';

/** Version of the message shapes below, in every message (`v`), so a consumer can tell them apart later. */
export const MESSAGE_VERSION = 1;

export interface InspectionMessage {
  v: typeof MESSAGE_VERSION;
  type: 'inspection';
  /** The inspection id: unique per station; a consumer drops a message whose id it has seen. */
  id: number;
  line: string;
  lineId: number;
  file: string;
  sha256: string | null;
  score: number | null;
  normalizedScore: number | null;
  threshold: number | null;
  verdict: 'pass' | 'flag' | 'error';
  error: string | null;
  modelVersion: string | null;
  /** When the image was scored (the row's commit), ISO 8601 UTC. */
  time: string;
  /** When the station saw the file. */
  receivedAt: string;
}

export interface DecisionMessage {
  v: typeof MESSAGE_VERSION;
  type: 'decision';
  /** The decision id (unique per station). */
  id: number;
  inspectionId: number;
  line: string;
  lineId: number;
  file: string;
  decision: 'defect' | 'false_alarm';
  operator: string;
  comment: string | null;
  /** The decision this one corrects, if any (decisions are never edited). */
  corrects: number | null;
  time: string;
}

/** A line's status, retained on `<prefix>/<line>/status`; the broker publishes the last-will form if the
 * station's connection drops. */
export interface StatusMessage {
  v: typeof MESSAGE_VERSION;
  type: 'status';
  /** 'offline' when the station is gone (last will, or a clean stop). */
  state: 'online' | 'offline';
  line: string;
  lineId: number;
  /** The line's own status while online: watching, paused, missing, error, ... */
  status: string | null;
  text: string | null;
  station: string;
  time: string;
}

export function renderMessage(m: OutboxMessage): InspectionMessage | DecisionMessage {
  const i = m.inspection;
  if (m.kind === 'decision' && m.decision) {
    const d = m.decision;
    return {
      v: MESSAGE_VERSION,
      type: 'decision',
      id: d.id,
      inspectionId: i.id,
      line: i.lineName,
      lineId: i.lineId,
      file: i.filePath,
      decision: d.decision,
      operator: d.operator,
      comment: d.comment,
      corrects: d.correctsDecisionId,
      time: d.decidedAt,
    };
  }
  return {
    v: MESSAGE_VERSION,
    type: 'inspection',
    id: i.id,
    line: i.lineName,
    lineId: i.lineId,
    file: i.filePath,
    sha256: i.sha256,
    score: i.rawScore,
    normalizedScore: i.normalizedScore,
    threshold: i.threshold,
    verdict: i.verdict,
    error: i.errorText,
    modelVersion: i.modelVersion,
    time: i.scoredAt,
    receivedAt: i.receivedAt,
  };
}

/**
 * A line's name as one MQTT topic level: '/' would open a level, '+' and '#' are wildcards (a publish may not
 * contain them), NUL is forbidden; each becomes '_'. Empty or blank names become the line id.
 */
export function topicLevel(name: string, lineId: number): string {
  const s = name.trim().replace(/[/+#]/g, '_').split('\0').join('_');
  return s || `line-${lineId}`;
}

export const DEFAULT_TOPIC_PREFIX = 'anomaly-station';

export function topicFor(
  prefix: string,
  line: string,
  lineId: number,
  kind: 'inspection' | 'decision' | 'status',
) {
  return `${prefix}/${topicLevel(line, lineId)}/${kind}`;
}
