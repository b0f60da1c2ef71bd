// The normalised score the station stores with every inspection: against the threshold that judged it (a
// line's override or the calibrated one), 0.5 exactly at that threshold and above 0.5 exactly for a flag,
// also when the override lies outside the calibration's low..high range; and the migration that recomputes
// it for rows an older station normalised against the model's calibrated threshold.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase } from '../../../src/main/station/database';
import { tempDir } from '../../helpers/fixtures';
import { verdict, type Calibration } from '../../../src/ml';
import { normalisedAgainst } from '../../../src/main/station/normalised-score';

const cal: Calibration = {
  method: 'quantile',
  targetFalseAlarmRate: 0.005,
  threshold: 0.4,
  goodStats: { n: 10, mean: 0.2, std: 0.05, min: 0.1, max: 0.39, p50: 0.2, p95: 0.3, p99: 0.38, p995: 0.39 },
  low: 0.1,
  high: 0.8,
  defectCount: 0,
};

describe('normalised score against the threshold that judged', () => {
  it('is 0.5 at the threshold in force and above 0.5 exactly when that threshold flags', () => {
    const raws = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.6, 0.8, 1.2];
    for (const threshold of [0.4, 0.25, 0.6, 0.05, 0.95]) {
      expect(normalisedAgainst(threshold, cal, threshold)).toBe(0.5);
      let previous = -Infinity;
      for (const raw of raws) {
        const n = normalisedAgainst(raw, cal, threshold);
        expect(n).toBeGreaterThanOrEqual(0);
        expect(n).toBeLessThanOrEqual(1);
        expect(n).toBeGreaterThanOrEqual(previous); // monotonic in the raw score
        previous = n;
        expect(n > 0.5, `raw ${raw} at threshold ${threshold}`).toBe(verdict(raw, cal, threshold) === 'flag');
      }
    }
  });

  it("keeps the calibration's ends: low maps to 0 and high to 1 for an override between them", () => {
    expect(normalisedAgainst(0.1, cal, 0.25)).toBe(0);
    expect(normalisedAgainst(0.8, cal, 0.25)).toBe(1);
    expect(normalisedAgainst(0.175, cal, 0.25)).toBeCloseTo(0.25, 12);
    expect(normalisedAgainst(0.525, cal, 0.25)).toBeCloseTo(0.75, 12);
    // The calibrated threshold itself gives the model's own normalisation.
    expect(normalisedAgainst(0.6, cal, cal.threshold)).toBeCloseTo(0.75, 12);
  });
});

describe('migration 5: normalised scores of older rows', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it('recomputes rows judged at an override against that override, and leaves the others', () => {
    const file = join(tmp.dir, 'old.db');
    const r = new Database(file);
    migrate(r, 4);
    const at = '2025-03-01T06:00:00.000Z';
    r.prepare(
      `INSERT INTO models (name, folder, method, version, created_at, meta_json, threshold, calibration_json, registered_at)
       VALUES ('m', '/models/m', 'ganomaly', 'v1', ?, '{}', 0.4, ?, ?)`,
    ).run(at, JSON.stringify(cal), at);
    r.prepare(
      `INSERT INTO lines (name, folder, model_id, threshold_override, created_at, updated_at)
       VALUES ('L', '/camera', 1, 0.25, ?, ?)`,
    ).run(at, at);
    const insert = r.prepare(
      `INSERT INTO inspections (line_id, model_id, model_version, file_path, file_size, file_mtime_ms,
         received_at, scored_at, raw_score, normalized_score, threshold, verdict, error_text)
       VALUES (1, 1, 'v1', ?, 10, 5, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // As the old station wrote them: normalised against the calibrated 0.4 whatever judged them.
    insert.run('/camera/a.png', at, at, 0.3, 1 / 3, 0.25, 'flag', null); // judged at the override
    insert.run('/camera/b.png', at, at, 0.6, 0.75, 0.4, 'flag', null); // judged at the calibrated one
    insert.run('/camera/c.png', at, at, null, null, 0.25, 'error', 'not an image');
    r.close();

    const db = openDatabase(file);
    const rows = db.queryInspections({}, { limit: 10 }).rows.sort((a, b) => a.id - b.id);
    db.close();
    expect(rows.map((x) => x.normalizedScore)).toEqual([normalisedAgainst(0.3, cal, 0.25), 0.75, null]);
    expect(rows[0].normalizedScore).toBeGreaterThan(0.5); // it was flagged
  });
});
