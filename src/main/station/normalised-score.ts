// The normalised score the station stores with every inspection: the raw score mapped to [0, 1] against the
// threshold that judged the image (the line's override, else the model's calibrated one), so 0.5 is always
// where pass turns into flag, in the row, on the console, over the API and in the UI's score bar. And the
// migration that recomputes it for rows written before (they were normalised against the model's calibrated
// threshold even where a line's override judged them).
import type Database from 'better-sqlite3';
// The pure calibration module, not the ML index: opening a database must not load tfjs.
import { normaliseScore, type Calibration } from '../../ml/calibration';
import type { Migration } from './database';

/**
 * `raw` in [0, 1] against `threshold`: 0.5 at it, above 0.5 exactly when the verdict is flag; below it the
 * scale runs from the calibration's low end, above it to its high end.
 */
export function normalisedAgainst(raw: number, cal: Calibration, threshold: number): number {
  return normaliseScore(raw, { ...cal, threshold });
}

export const NORMALISED_SCORE_MIGRATION: Omit<Migration, 'version'> = {
  name: 'normalised scores against the threshold that judged each image',
  up: (db: Database.Database) => {
    const models = db
      .prepare('SELECT id, calibration_json AS json FROM models WHERE calibration_json IS NOT NULL')
      .all() as { id: number; json: string }[];
    // Only rows judged by another threshold than the calibrated one were normalised against the wrong one.
    const rows = db.prepare(
      `SELECT id, raw_score AS raw, threshold FROM inspections
       WHERE model_id = ? AND normalized_score IS NOT NULL AND raw_score IS NOT NULL AND threshold IS NOT NULL
         AND threshold != ?`,
    );
    const update = db.prepare('UPDATE inspections SET normalized_score = ? WHERE id = ?');
    for (const m of models) {
      const cal = JSON.parse(m.json) as Calibration;
      for (const r of rows.all(m.id, cal.threshold) as { id: number; raw: number; threshold: number }[])
        update.run(normalisedAgainst(r.raw, cal, r.threshold), r.id);
    }
  },
};
