// A report's days are local days of one time zone, said with the zone everywhere (summary, PDF, CSV), and
// its models show the thresholds their images were actually judged by (line overrides), from the rows.
// Real SQLite; a New York period across the March DST change (a 23-hour day) and Kolkata's half-hour offset.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../../src/main/station/artifacts';
import { openDatabase, type StationDatabase } from '../../../src/main/station/database';
import {
  localDays,
  reportSummary,
  timeZoneLabel,
  writeCsvReport,
  writePdfReport,
  type ReportOptions,
} from '../../../src/main/reports';
import { tempDir } from '../../helpers/fixtures';
import { readPdfText } from '../../helpers/pdf';
import { fakeModelMeta } from '../../helpers/station-records';

const NY = 'America/New_York';
const H = 3_600_000;
// 2026-03-07 00:00 in New York (UTC-5) to 2026-03-10 00:00 (UTC-4: clocks went forward on the 8th at 02:00).
const FROM = Date.parse('2026-03-07T05:00:00Z');
const TO = Date.parse('2026-03-10T04:00:00Z');
/** The three local days, written out by hand (not by the code under test). */
const NY_DAYS = [
  { day: '2026-03-07', from: FROM, to: Date.parse('2026-03-08T05:00:00Z') },
  { day: '2026-03-08', from: Date.parse('2026-03-08T05:00:00Z'), to: Date.parse('2026-03-09T04:00:00Z') },
  { day: '2026-03-09', from: Date.parse('2026-03-09T04:00:00Z'), to: TO },
];
/** Line A's override changes from 0.85 to 0.9 here. */
const CHANGE = Date.parse('2026-03-08T12:00:00Z');

const t = tempDir('station-report-days-');
let db: StationDatabase;
let lines: { a: number; b: number };
let model: { id: number; threshold: number | null };

const options = (over: Partial<ReportOptions> = {}): ReportOptions => ({
  from: new Date(FROM).toISOString(),
  to: new Date(TO).toISOString(),
  generatedBy: 'Q',
  stationName: 'Plant 3',
  timeZone: NY,
  ...over,
});

beforeAll(() => {
  db = openDatabase(join(t.dir, 'station.db'));
  const m = db.registerModel({ folder: '/models/m', meta: fakeModelMeta('bracket', 0.8125) });
  model = { id: m.id, threshold: m.threshold };
  const a = db.addLine({ name: 'Press A', folder: '/cam/a', modelId: m.id, thresholdOverride: 0.85 }).id;
  const b = db.addLine({ name: 'Press B', folder: '/cam/b', modelId: m.id }).id;
  lines = { a, b };
  let n = 0;
  // Every 30 minutes on both lines, an hour either side of the period too; every 7th an error.
  for (let at = FROM - H; at < TO + H; at += H / 2) {
    for (const lineId of [a, b]) {
      const threshold = lineId === b ? 0.8125 : at < CHANGE ? 0.85 : 0.9;
      const error = n % 7 === 3;
      db.insertInspection({
        lineId,
        modelId: m.id,
        modelVersion: m.version,
        filePath: `/cam/${lineId}/${n}.png`,
        fileSize: 1000,
        fileMtimeMs: at,
        sha256: null,
        receivedAt: at,
        scoredAt: at,
        rawScore: error ? null : n % 5 === 0 ? threshold + 0.1 : threshold - 0.1,
        threshold: error ? null : threshold,
        verdict: error ? 'error' : n % 5 === 0 ? 'flag' : 'pass',
        errorText: error ? 'unreadable' : null,
      });
      n++;
    }
  }
});
afterAll(() => {
  db?.close();
  t.cleanup();
});

describe('local days', () => {
  it('splits a period at local midnights, 23 hours on the day clocks go forward', () => {
    expect(localDays(FROM, TO, NY)).toEqual(NY_DAYS);
    // Kolkata is UTC+05:30: its days start at 18:30 UTC.
    expect(
      localDays(Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-01-02T00:00:00Z'), 'Asia/Kolkata'),
    ).toEqual([
      { day: '2026-01-01', from: Date.parse('2026-01-01T00:00:00Z'), to: Date.parse('2026-01-01T18:30:00Z') },
      { day: '2026-01-02', from: Date.parse('2026-01-01T18:30:00Z'), to: Date.parse('2026-01-02T00:00:00Z') },
    ]);
    expect(timeZoneLabel(NY, FROM, TO)).toBe('America/New_York, UTC-05:00/-04:00');
    expect(timeZoneLabel('Asia/Kolkata', FROM, TO)).toBe('Asia/Kolkata, UTC+05:30');
    expect(timeZoneLabel('UTC', FROM, TO)).toBe('UTC');
    expect(timeZoneLabel('Europe/London', FROM, TO)).toBe('Europe/London, UTC+00:00');
  });

  it('counts each local day from the rows of that day (night images on the day the plant calls it)', () => {
    const s = reportSummary(db, options());
    expect(s.timeZone).toBe(NY);
    expect(s.timeZoneLabel).toBe('America/New_York, UTC-05:00/-04:00');
    expect(s.days.map((d) => d.day)).toEqual(NY_DAYS.map((d) => d.day));
    for (const [i, d] of NY_DAYS.entries()) {
      const c = s.days[i].counts;
      expect(c.inspected).toBe(db.countInspections({ from: d.from, to: d.to }));
      expect(c.errors).toBe(db.countInspections({ from: d.from, to: d.to, verdict: 'error' }));
      expect(c.flagged).toBe(db.countInspections({ from: d.from, to: d.to, verdict: 'flag' }));
    }
    expect(s.days[1].counts.inspected).toBe(2 * 46); // 23 hours, two lines, every 30 minutes
    expect(s.overall.inspected).toBe(db.countInspections({ from: FROM, to: TO }));
    // In UTC the same period has four (partial) days: the zone decides what a day is.
    expect(reportSummary(db, options({ timeZone: 'UTC' })).days.map((d) => d.day)).toEqual([
      '2026-03-07',
      '2026-03-08',
      '2026-03-09',
      '2026-03-10',
    ]);
  });

  it('lists the thresholds the images were judged by: the override and its change, not only the calibrated one', () => {
    const s = reportSummary(db, options());
    const [m] = s.models;
    expect(m.threshold).toBe(model.threshold);
    const judged = (lineId: number, from: number, to: number) =>
      db.countInspections({ lineId, from, to, verdict: ['pass', 'flag'] });
    expect(m.applied.map((x) => [x.lineName, x.threshold, x.inspected])).toEqual([
      ['Press A', 0.85, judged(lines.a, FROM, CHANGE)],
      ['Press A', 0.9, judged(lines.a, CHANGE, TO)],
      ['Press B', 0.8125, judged(lines.b, FROM, TO)],
    ]);
    expect(m.applied[0].first).toBe(new Date(FROM).toISOString());
    expect(m.applied[1].first).toBe(new Date(CHANGE).toISOString());
    expect(m.applied.reduce((n, x) => n + x.inspected, 0)).toBe(
      db.countInspections({ from: FROM, to: TO, verdict: ['pass', 'flag'] }),
    );
  });

  it('says the zone in the CSV (each row`s local day) and the PDF (per-day heading, period, thresholds)', async () => {
    const s = reportSummary(db, options());
    const csv = join(t.dir, 'r.csv');
    await writeCsvReport(db, s, csv);
    const rows = parse(readFileSync(csv), { columns: true }) as Record<string, string>[];
    expect(rows.length).toBe(s.overall.inspected);
    for (const r of rows) {
      const at = Date.parse(r.scored_at);
      expect(r.time_zone).toBe(NY);
      expect(r.scored_local_day).toBe(NY_DAYS.find((d) => at >= d.from && at < d.to)!.day);
    }
    // 22:30 on the 7th in New York is the 8th in UTC: the row counts on the 7th, as in the per-day table.
    expect(rows.find((r) => r.scored_at === '2026-03-08T03:30:00.000Z')?.scored_local_day).toBe('2026-03-07');

    const pdf = join(t.dir, 'r.pdf');
    await writePdfReport(db, new ArtifactStore(join(t.dir, 'images')), s, pdf);
    const text = (await readPdfText(pdf)).text.replace(/\s+/g, ' ');
    expect(text).toContain('Per day (local days, America/New_York, UTC-05:00/-04:00)');
    expect(text).toContain('2026-03-07 00:00 to 2026-03-10 00:00 local time');
    expect(text).toMatch(/Thresholds applied 0\.85000 on Press A \(\d+ images\); 0\.90000 on Press A/);
    expect(text).toContain('0.81250 on Press B');
    expect(text).not.toContain('Per day (UTC)');
  });
});
