// Model lineage's tables, as one migration of the station database (database.ts runs it in order with the
// others): `model_lineage`, an append-only, hash-chained record of what happened to models made from operators'
// feedback (a child made from its parent, a model activated on a line, a child discarded), and
// `model_lineage_images`, the images each child was made from (added to its good set, held out to calibrate
// it, or listed for the engineer and left out), with the decision that put each one there.
//
// Both refuse UPDATE and DELETE (triggers). Each lineage row stores the hash of the row before it and a digest
// of its image rows (store.ts), so editing, deleting or inserting either shows in `station verify-audit`.
import type { Migration } from '../database';

/** Same shape check as database.ts's station times (frozen with this migration). */
const iso = (col: string): string =>
  `CHECK (${col} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z')`;

export const LINEAGE_MIGRATION: Omit<Migration, 'version'> = {
  name: 'model lineage: children made from feedback, activations, hash-chained',
  up: `
    CREATE TABLE model_lineage (
      id INTEGER PRIMARY KEY,
      -- created: model_id was made from parent_model_id; activated: model_id was put on line_id;
      -- discarded: the engineer set the child model_id aside without using it.
      kind TEXT NOT NULL CHECK (kind IN ('created', 'activated', 'discarded')),
      model_id INTEGER NOT NULL REFERENCES models (id),
      parent_model_id INTEGER REFERENCES models (id),
      line_id INTEGER REFERENCES lines (id),
      -- Who asked (the signed-in operator, or the CLI's --by).
      operator TEXT NOT NULL CHECK (length(trim(operator)) > 0),
      at TEXT NOT NULL ${iso('at')},
      -- Hashed as the exact text stored.
      details_json TEXT NOT NULL CHECK (json_valid(details_json)),
      -- sha256 over this record's image rows (store.ts: imagesDigest), so the additions are in the chain.
      images_digest TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL UNIQUE,
      CHECK ((kind = 'created') = (parent_model_id IS NOT NULL))
    ) STRICT;
    CREATE INDEX model_lineage_model ON model_lineage (model_id, id);
    CREATE INDEX model_lineage_parent ON model_lineage (parent_model_id) WHERE parent_model_id IS NOT NULL;

    CREATE TABLE model_lineage_images (
      lineage_id INTEGER NOT NULL REFERENCES model_lineage (id),
      inspection_id INTEGER NOT NULL REFERENCES inspections (id),
      -- The decision that made it a false alarm (the latest one when the child was made).
      decision_id INTEGER REFERENCES decisions (id),
      -- The camera file's sha256, as the inspection recorded it.
      sha256 TEXT NOT NULL,
      -- The image as the model family sees it, in the artifact store (null: not used).
      image_key TEXT,
      -- added: joined the good set; held-out: calibrated the child (and checked it); disputed: operators
      -- disagree, listed for the engineer; excluded: left out for the reason in note.
      role TEXT NOT NULL CHECK (role IN ('added', 'held-out', 'disputed', 'excluded')),
      note TEXT,
      PRIMARY KEY (lineage_id, inspection_id)
    ) STRICT;
    CREATE INDEX model_lineage_images_inspection ON model_lineage_images (inspection_id);

    -- Confirmed defects never enter a good set: a false alarm whose image was confirmed a defect elsewhere is
    -- found by its hash, and a line's confirmed defects (the child's recall check) by line; only defects are
    -- in these indexes, so they stay small.
    CREATE INDEX inspections_defect_sha ON inspections (sha256) WHERE decision = 'defect';
    CREATE INDEX inspections_defect_line ON inspections (line_id, id) WHERE decision = 'defect';

    CREATE TRIGGER model_lineage_no_update BEFORE UPDATE ON model_lineage
    BEGIN
      SELECT RAISE(ABORT, 'model lineage is append-only: a record is never changed');
    END;
    CREATE TRIGGER model_lineage_no_delete BEFORE DELETE ON model_lineage
    BEGIN
      SELECT RAISE(ABORT, 'model lineage is append-only: a record is never deleted');
    END;
    CREATE TRIGGER model_lineage_images_no_update BEFORE UPDATE ON model_lineage_images
    BEGIN
      SELECT RAISE(ABORT, 'model lineage is append-only: a recorded image is never changed');
    END;
    CREATE TRIGGER model_lineage_images_no_delete BEFORE DELETE ON model_lineage_images
    BEGIN
      SELECT RAISE(ABORT, 'model lineage is append-only: a recorded image is never deleted');
    END;
  `,
};
