// The plant outputs' tables, as one migration of the station database (database.ts runs it in order with the
// others): `outputs` (what is configured: an MQTT broker per line, the station's OPC UA server) and `outbox`
// (one row per message an output owes, oldest first).
//
// Outbox rows are written by triggers on inspections and decisions, so a message is committed in the SAME
// transaction as the row it announces, whoever writes that row (the station, or a decision written through
// another connection): a broker that is down or a station killed mid-burst loses nothing, and a rolled-back
// row announces nothing. A row only points at what it announces; the message is rendered from those rows
// (which never change) when it is sent, so every redelivery of it is byte-identical (see messages.ts).
import type { Migration } from '../database';

/** Same shape check as database.ts's station times (frozen with this migration). */
const iso = (col: string): string =>
  `CHECK (${col} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z')`;

/** SQLite's "now" in the station's time shape (YYYY-MM-DDTHH:MM:SS.SSSZ). */
const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;

export const OUTPUTS_MIGRATION: Omit<Migration, 'version'> = {
  name: 'plant outputs: outputs and their outbox',
  up: `
    CREATE TABLE outputs (
      id INTEGER PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('mqtt', 'opcua')),
      -- NULL: the output serves every line (the OPC UA server); else one line (an MQTT broker per line).
      line_id INTEGER REFERENCES lines (id),
      enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
      -- 1: operators' decisions are announced too (MQTT); 0: inspections only (OPC UA).
      decisions INTEGER NOT NULL DEFAULT 1 CHECK (decisions IN (0, 1)),
      config_json TEXT NOT NULL CHECK (json_valid(config_json)),
      -- Passwords live apart from the configuration, so no query that lists outputs can carry them.
      secrets_json TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(secrets_json)),
      created_at TEXT NOT NULL ${iso('created_at')},
      updated_at TEXT NOT NULL ${iso('updated_at')}
    ) STRICT;
    -- One output of a kind per line (and one station-wide one).
    CREATE UNIQUE INDEX outputs_kind_line ON outputs (kind, ifnull(line_id, 0));

    CREATE TABLE outbox (
      id INTEGER PRIMARY KEY,
      output_id INTEGER NOT NULL REFERENCES outputs (id) ON DELETE CASCADE,
      kind TEXT NOT NULL CHECK (kind IN ('inspection', 'decision')),
      inspection_id INTEGER NOT NULL REFERENCES inspections (id),
      decision_id INTEGER REFERENCES decisions (id),
      created_at TEXT NOT NULL ${iso('created_at')},
      sent_at TEXT ${iso('sent_at')},
      CHECK ((kind = 'decision') = (decision_id IS NOT NULL))
    ) STRICT;
    -- What a sender reads next, and the backlog count: only the unsent rows, in order.
    CREATE INDEX outbox_pending ON outbox (output_id, id) WHERE sent_at IS NULL;

    CREATE TRIGGER outbox_inspection AFTER INSERT ON inspections
    WHEN EXISTS (SELECT 1 FROM outputs WHERE enabled = 1)
    BEGIN
      INSERT INTO outbox (output_id, kind, inspection_id, created_at)
      SELECT o.id, 'inspection', NEW.id, ${NOW} FROM outputs o
      WHERE o.enabled = 1 AND (o.line_id IS NULL OR o.line_id = NEW.line_id)
      ORDER BY o.id;
    END;

    CREATE TRIGGER outbox_decision AFTER INSERT ON decisions
    WHEN EXISTS (SELECT 1 FROM outputs WHERE enabled = 1 AND decisions = 1)
    BEGIN
      INSERT INTO outbox (output_id, kind, inspection_id, decision_id, created_at)
      SELECT o.id, 'decision', NEW.inspection_id, NEW.id, ${NOW} FROM outputs o
      WHERE o.enabled = 1 AND o.decisions = 1
        AND (o.line_id IS NULL OR o.line_id = (SELECT line_id FROM inspections WHERE id = NEW.inspection_id))
      ORDER BY o.id;
    END;
  `,
};
