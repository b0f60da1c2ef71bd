// Audit reports on a real station database built by the test: three lines over three days, flags with
// thumbnails and heatmaps in the artifact store, decisions with corrections and hostile comments. The CSV
// is parsed back with csv-parse, the PDF read back in JavaScript (test/helpers/pdf.ts: text, pages, fonts,
// images) and kept in test-artifacts/reports/ for a person to look at, with page pictures where poppler's
// pdftoppm is installed (no test needs it). Every expected number comes from the database itself
// (countInspections, getInspection, decisionsFor), never from the report code.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../../src/main/station/artifacts';
import {
  openDatabase,
  type InspectionFilters,
  type StationDatabase,
  type Verdict,
} from '../../../src/main/station/database';
import {
  CSV_COLUMNS,
  neutraliseFormula,
  NO_INSPECTIONS,
  reportSummary,
  writeReport,
  type ReportOptions,
} from '../../../src/main/reports';
import { runCli } from '../../helpers/cli';
import { tempDir } from '../../helpers/fixtures';
import { readPdf, readPdfText, type PdfContents } from '../../helpers/pdf';
import { artifactPair, fakeModelMeta } from '../../helpers/station-records';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'reports');
const DAY = 86_400_000;
/** Midnight UTC five days ago: the fixture's three days start here (in the past, as `station report` sees it). */
const BASE = Date.parse(new Date().toISOString().slice(0, 10)) - 5 * DAY;
/** When line B switches to the second model: in the middle of the period. */
const B_SWITCH = BASE + DAY + 12 * 3_600_000;
const FROM = new Date(BASE).toISOString();
const TO = new Date(BASE + 3 * DAY).toISOString();
/** Pinned after the period, so the report covers all of it. */
const GENERATED_AT = new Date(BASE + 4 * DAY);

const HOSTILE_COMMENTS = [
  '=HYPERLINK("http://evil.example","click")',
  '+1',
  '-2',
  '@x',
  'He said "no", then, after a pause,\nsaid it again; line two',
];
const MULTILINE = HOSTILE_COMMENTS[4];
/**
 * Operators beyond WinAnsi, on the false alarms of each day (lines A and B): the PDF draws Polish, Cyrillic
 * and Greek in DejaVu, Japanese and Korean names in Noto Sans CJK JP / KR. Simplified Chinese is none of the
 * station's languages and no report font has 张伟's glyphs, so it prints as "??". The CSV has all exactly.
 */
const UNICODE_OPERATORS = [
  ['Łukasz Zoë', 'Олег'],
  ['Ζωή', '张伟'],
  ['山田太郎', '김민준'],
];
const CJK_OPERATOR = '张伟';

interface Fixture {
  dir: string;
  db: StationDatabase;
  store: ArtifactStore;
  lines: { a: number; b: number; c: number };
}

/**
 * Three lines (A, B with a model change, C with a threshold override), ten images per line per day over
 * three days plus a few outside the period; every fifth image flagged, some errors; flags decided as
 * defects or false alarms, some corrected, some left unreviewed, one pass marked as a missed defect.
 */
async function buildFixture(dir: string): Promise<Fixture> {
  const db = openDatabase(join(dir, 'station.db'));
  const store = new ArtifactStore(join(dir, 'images'));
  const m1 = db.registerModel({ folder: '/models/bracket', meta: fakeModelMeta('bracket-ganomaly', 0.8125) });
  const m2 = db.registerModel({
    folder: '/models/bracket-v2',
    meta: fakeModelMeta('bracket-ganomaly-v2', 0.9),
  });
  const a = db.addLine({ name: 'Press A', folder: '/cam/a', modelId: m1.id }).id;
  const b = db.addLine({ name: 'Press B', folder: '/cam/b', modelId: m1.id }).id;
  const c = db.addLine({ name: 'Weld C', folder: '/cam/c', modelId: m1.id, thresholdOverride: 0.85 }).id;
  db.updateLine(b, { modelId: m2.id });
  // The station stamps line changes with the real time; date them as they would have happened: the lines
  // set up well before the period, B's model switched half-way through it.
  const raw = new Database(join(dir, 'station.db'));
  const setUp = new Date(BASE - 10 * DAY).toISOString();
  raw.prepare('UPDATE lines SET created_at = ?, updated_at = ?').run(setUp, setUp);
  raw.prepare('UPDATE line_model_history SET activated_at = ?').run(setUp);
  raw
    .prepare('UPDATE line_model_history SET activated_at = ? WHERE line_id = ? AND model_id = ?')
    .run(new Date(B_SWITCH).toISOString(), b, m2.id);
  raw.close();
  const pairs: { thumb: string; heat: string }[] = [];
  for (let s = 0; s < 4; s++) pairs.push(await artifactPair(store, s));
  const missingKey = 'f'.repeat(64); // a key whose PNG is not in the store

  let n = 0;
  let comment = 0;
  const add = (
    lineId: number,
    at: number,
    verdict: Verdict,
    over: { filePath?: string; errorText?: string } = {},
  ) => {
    const switched = lineId === b && at >= B_SWITCH;
    const modelId = switched ? m2.id : m1.id;
    const threshold = lineId === c ? 0.85 : switched ? 0.9 : 0.8125;
    const raw =
      verdict === 'flag' ? threshold + 0.05 + (n % 7) * 0.01 : verdict === 'pass' ? threshold - 0.2 : null;
    const pair = pairs[n % pairs.length];
    const id = db.insertInspection({
      lineId,
      modelId,
      modelVersion: switched ? m2.version : m1.version,
      filePath: over.filePath ?? `/cam/${lineId}/img-${String(n).padStart(4, '0')}.png`,
      fileSize: 20_000 + n,
      fileMtimeMs: at,
      sha256: (n % 16).toString(16).repeat(64),
      receivedAt: at - 150,
      scoredAt: at,
      decodeMs: 3,
      scoreMs: 12,
      rawScore: raw,
      normalizedScore: raw === null ? null : 0.5 + (raw - threshold),
      threshold: verdict === 'error' ? null : threshold,
      verdict,
      errorText: verdict === 'error' ? (over.errorText ?? 'decode failed: truncated PNG') : null,
      thumbnailKey: verdict === 'flag' ? (n % 13 === 5 ? missingKey : pair.thumb) : null,
      heatmapKey: verdict === 'flag' ? pair.heat : null,
      engine: 'onnxruntime-node',
    });
    n++;
    return id;
  };
  const decide = (id: number, decision: 'defect' | 'false_alarm', operator: string, at: number) =>
    db.appendDecision({
      inspectionId: id,
      decision,
      operator,
      comment:
        comment < HOSTILE_COMMENTS.length * 2 ? HOSTILE_COMMENTS[comment++ % HOSTILE_COMMENTS.length] : null,
      decidedAt: at,
    });

  for (let day = 0; day < 3; day++) {
    for (const lineId of [a, b, c]) {
      for (let i = 0; i < 10; i++) {
        const at = BASE + day * DAY + 8 * 3_600_000 + i * 600_000 + lineId * 1000;
        const verdict: Verdict = i % 5 === 2 ? 'flag' : i === 8 && lineId !== a ? 'error' : 'pass';
        const id = add(
          lineId,
          at,
          verdict,
          // Hostile text in fields the camera / decoder fill in, not only in comments.
          day === 1 && i === 8 && lineId === b ? { errorText: '\tdecode failed' } : {},
        );
        if (verdict === 'flag') {
          if (i === 2 && day !== 1) {
            const first = decide(id, 'defect', 'Ana', at + 60_000);
            if (lineId === b) {
              db.appendDecision({
                inspectionId: id,
                decision: 'false_alarm',
                operator: 'Ben',
                comment: 'corrected after re-measuring, within tolerance',
                correctsDecisionId: first.id,
                decidedAt: at + 3_600_000,
              });
            }
          } else if (i === 7 && lineId !== c)
            decide(id, 'false_alarm', UNICODE_OPERATORS[day]?.[lineId === a ? 0 : 1] ?? 'Ben', at + 120_000);
          // Otherwise left unreviewed.
        } else if (verdict === 'pass' && day === 2 && i === 9 && lineId === a) {
          decide(id, 'defect', 'Ana', at + 60_000); // a defect the model passed
        }
      }
    }
  }
  add(a, BASE - 3_600_000, 'flag'); // before the period
  add(b, BASE + 3 * DAY, 'flag'); // at its (exclusive) end
  add(c, BASE + 2 * DAY + 9 * 3_600_000, 'pass', { filePath: '=cmd|"/c calc"!A0.png' });
  return { dir, db, store, lines: { a, b, c } };
}

/** The numbers the report must print, straight from the database (not from the report's own query). */
function truth(db: StationDatabase, base: InspectionFilters) {
  const count = (f: InspectionFilters = {}) => db.countInspections({ ...base, ...f });
  const inspected = count();
  const errors = count({ verdict: 'error' });
  const flagged = count({ verdict: 'flag' });
  const knownGood =
    count({ verdict: 'pass' }) -
    count({ verdict: 'pass', decision: 'defect' }) +
    count({ verdict: 'flag', decision: 'false_alarm' });
  const scored = inspected - errors;
  const rate = (x: number) => (scored ? `${((x / scored) * 100).toFixed(2)}%` : '–');
  return {
    inspected,
    passed: count({ verdict: 'pass' }),
    flagged,
    confirmedDefects: count({ decision: 'defect' }),
    falseAlarms: count({ decision: 'false_alarm' }),
    unreviewed: count({ verdict: 'flag', decision: 'unreviewed' }),
    errors,
    flagRate: rate(flagged),
    yield: rate(knownGood),
  };
}

/** A row of the summary tables as pdf.js reads it: the label, then the nine count columns. */
function tableRow(text: string, label: string) {
  const re = new RegExp(
    `^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+${'([\\d,]+)\\s+'.repeat(7)}(\\S+)\\s+(\\S+)\\s*$`,
    'm',
  );
  const m = re.exec(text);
  if (!m) throw new Error(`no table row "${label}" in:\n${text.slice(0, 3000)}`);
  const n = (i: number) => Number(m[i].replace(/,/g, ''));
  return {
    inspected: n(1),
    passed: n(2),
    flagged: n(3),
    confirmedDefects: n(4),
    falseAlarms: n(5),
    unreviewed: n(6),
    errors: n(7),
    flagRate: m[8],
    yield: m[9],
  };
}

/** poppler's page renderer: optional, it only draws pictures of the pages for a person to look at. */
const HAVE_PDFTOPPM = !spawnSync('pdftoppm', ['-v']).error;

/**
 * Keep the PDF as test-artifacts/reports/NAME.pdf for a look and, where pdftoppm is installed, every page
 * as NAME-*.png at 60 dpi: one picture per page, none blank, or it throws.
 */
function keepForALook(pdf: string, pages: number, name: string): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of readdirSync(ARTIFACTS)) if (f.startsWith(`${name}-`)) rmSync(join(ARTIFACTS, f));
  copyFileSync(pdf, join(ARTIFACTS, `${name}.pdf`));
  if (!HAVE_PDFTOPPM) return;
  execFileSync('pdftoppm', ['-png', '-r', '60', pdf, join(ARTIFACTS, name)]);
  const pngs = readdirSync(ARTIFACTS).filter((f) => f.startsWith(`${name}-`) && f.endsWith('.png'));
  const blank = pngs.filter((f) => statSync(join(ARTIFACTS, f)).size <= 5_000);
  if (pngs.length !== pages || blank.length)
    throw new Error(`pdftoppm drew ${pngs.length} page(s) of ${pages}, blank: ${blank.join(', ') || 'none'}`);
}

type CsvRow = Record<string, string>;
const readCsv = (file: string): CsvRow[] =>
  parse(readFileSync(file), { columns: true, relax_quotes: false, record_delimiter: '\r\n' }) as CsvRow[];

const cli = runCli;

const t = tempDir('station-report-');
let fx: Fixture;
const options = (over: Partial<ReportOptions> = {}): ReportOptions => ({
  from: FROM,
  to: TO,
  generatedBy: 'Quality Manager Q',
  stationName: 'Plant 3 inspection station',
  generatedAt: GENERATED_AT,
  lot: 'LOT-2025/07 "A"',
  // The fixture's days are UTC days, whatever zone the test machine is in.
  timeZone: 'UTC',
  ...over,
});
const period = { from: FROM, to: TO };

beforeAll(async () => {
  fx = await buildFixture(join(t.dir, 'station'));
});
afterAll(() => {
  fx?.db.close();
  t.cleanup();
});

describe('report summary', () => {
  it('counts what the database holds, overall, per line and per day', () => {
    const s = reportSummary(fx.db, options());
    const counts = (c: typeof s.overall) => ({
      inspected: c.inspected,
      passed: c.passed,
      flagged: c.flagged,
      confirmedDefects: c.confirmedDefects,
      falseAlarms: c.falseAlarms,
      unreviewed: c.unreviewed,
      errors: c.errors,
      flagRate: c.flagRate === null ? '–' : `${(c.flagRate * 100).toFixed(2)}%`,
      yield: c.yield === null ? '–' : `${(c.yield * 100).toFixed(2)}%`,
    });
    expect(counts(s.overall)).toEqual(truth(fx.db, period));
    expect(s.overall.inspected).toBeGreaterThan(80);
    expect(s.overall.missedDefects).toBe(
      fx.db.countInspections({ ...period, verdict: 'pass', decision: 'defect' }),
    );
    expect(s.overall.missedDefects).toBeGreaterThan(0);
    expect(s.overall.flaggedConfirmed).toBe(
      fx.db.countInspections({ ...period, verdict: 'flag', decision: 'defect' }),
    );
    expect(s.overall.flaggedCleared).toBe(
      fx.db.countInspections({ ...period, verdict: 'flag', decision: 'false_alarm' }),
    );
    expect(s.snapshotId).toBe(fx.db.lastInspectionId());
    expect(s.lines.map((l) => l.name)).toEqual(['Press A', 'Press B', 'Weld C']);
    for (const l of s.lines) expect(counts(l.counts)).toEqual(truth(fx.db, { ...period, lineId: l.id }));
    expect(s.days.map((d) => d.day)).toEqual(
      [0, 1, 2].map((k) => new Date(BASE + k * DAY).toISOString().slice(0, 10)),
    );
    for (const d of s.days) {
      const from = Date.parse(d.day);
      expect(counts(d.counts)).toEqual(truth(fx.db, { from, to: from + DAY }));
    }
  });

  it('lists the models in force and every activation on each line', () => {
    const s = reportSummary(fx.db, options());
    expect(s.models.map((m) => m.name)).toEqual(['bracket-ganomaly', 'bracket-ganomaly-v2']);
    for (const m of s.models) {
      const row = fx.db.getModel(m.id)!;
      expect(m).toMatchObject({
        version: row.version,
        trainingDataHash: row.dataHash,
        threshold: row.threshold,
      });
      expect(m.inspected).toBe(
        [...fx.db.iterateInspections({ from: FROM, to: TO })].filter((r) => r.modelId === m.id).length,
      );
    }
    // The lines were set up before the period: what was in force at its start is listed for each, and
    // B's switch half-way through.
    for (const line of s.lines) {
      const history = fx.db.lineModelHistory(line.id);
      const listed = s.activations.filter((a) => a.lineId === line.id);
      expect(listed.map((a) => a.activatedAt)).toEqual(history.map((h) => h.activatedAt));
      expect(listed[0].inForceAtStart).toBe(true);
      expect(listed.slice(1).every((a) => !a.inForceAtStart)).toBe(true);
    }
    const b = s.activations.filter((a) => a.lineId === fx.lines.b);
    expect(b.map((a) => [a.modelName, a.thresholdInForce])).toEqual([
      ['bracket-ganomaly', 0.8125],
      ['bracket-ganomaly-v2', 0.9],
    ]);
    const c = s.activations.find((a) => a.lineId === fx.lines.c)!;
    expect(c).toMatchObject({ thresholdOverride: 0.85, thresholdInForce: 0.85 });
    // A period after the switch lists only what was in force then.
    const late = reportSummary(fx.db, options({ from: new Date(B_SWITCH + DAY).toISOString() }));
    expect(late.activations.filter((a) => a.lineId === fx.lines.b).map((a) => a.modelName)).toEqual([
      'bracket-ganomaly-v2',
    ]);
  });

  it('refuses a period that ends before it starts', () => {
    expect(() => reportSummary(fx.db, options({ from: TO, to: FROM }))).toThrow(/must end after it starts/);
  });
});

describe('CSV', () => {
  let rows: CsvRow[];
  let file: string;

  beforeAll(async () => {
    file = join(t.dir, 'all.csv');
    const written = await writeReport(fx.db, fx.store, options(), { csv: file });
    rows = readCsv(file);
    expect(written.csvRows).toBe(rows.length);
  });

  it('is RFC 4180: header row, CRLF line ends, one row per inspection in the period', () => {
    const text = readFileSync(file, 'utf8');
    expect(text.split('\r\n')[0]).toBe(Object.values(CSV_COLUMNS).join(','));
    expect(text.replace(/\r\n/g, '').replace(/"[^"]*"/g, '')).not.toMatch(/[\r\n]/); // line breaks only inside quotes
    expect(rows).toHaveLength(fx.db.countInspections(period));
    const ids = [...fx.db.iterateInspections(period)].map((r) => String(r.id));
    expect(rows.map((r) => r.inspection_id)).toEqual(ids);
  });

  it('carries each inspection and its latest decision as the database has them', () => {
    const str = (v: string | number | null | undefined) =>
      v === null || v === undefined ? '' : neutraliseFormula(String(v));
    for (const row of rows) {
      const i = fx.db.getInspection(Number(row.inspection_id))!;
      const decisions = fx.db.decisionsFor(i.id);
      const d = decisions.at(-1);
      expect(row).toEqual({
        inspection_id: String(i.id),
        line_id: String(i.lineId),
        line: fx.db.getLine(i.lineId)!.name,
        file_path: str(i.filePath),
        file_size: String(i.fileSize),
        sha256: str(i.sha256),
        received_at: i.receivedAt,
        scored_at: i.scoredAt,
        scored_local_day: i.scoredAt.slice(0, 10),
        time_zone: 'UTC',
        model: fx.db.getModel(i.modelId!)!.name,
        model_version: str(i.modelVersion),
        engine: str(i.engine),
        raw_score: str(i.rawScore),
        normalized_score: str(i.normalizedScore),
        threshold: str(i.threshold),
        verdict: i.verdict,
        error_text: str(i.errorText),
        latest_decision: str(d?.decision),
        decided_by: str(d?.operator),
        decided_at: str(d?.decidedAt),
        comment: str(d?.comment),
        decision_count: String(decisions.length),
        decision_id: str(d?.id),
        decision_hash: str(d?.hash),
        decision_in_verified_chain: d ? 'yes' : '',
        lot_label: 'LOT-2025/07 "A"',
      });
      // Scores read back as the very numbers stored.
      if (i.rawScore !== null) expect(Number(row.raw_score)).toBe(i.rawScore);
      expect(row.scored_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    expect(rows.some((r) => Number(r.decision_count) > 1)).toBe(true);
  });

  it('neutralises cells a spreadsheet would run as formulas and keeps quotes, commas and newlines', () => {
    const comments = rows.map((r) => r.comment);
    expect(comments).toContain(`'=HYPERLINK("http://evil.example","click")`);
    expect(comments).toContain(`'+1`);
    expect(comments).toContain(`'-2`);
    expect(comments).toContain(`'@x`);
    expect(comments).toContain(MULTILINE);
    for (const name of UNICODE_OPERATORS.flat()) expect(rows.map((r) => r.decided_by)).toContain(name);
    expect(comments.filter((c) => /^[=+\-@\t\r]/.test(c))).toEqual([]);
    expect(rows.map((r) => r.error_text)).toContain(`'\tdecode failed`);
    expect(rows.map((r) => r.file_path)).toContain(`'=cmd|"/c calc"!A0.png`);
    for (const row of rows) for (const v of Object.values(row)) expect(v).not.toMatch(/^[=+@\t\r]/);
  });
});

describe('PDF', () => {
  let file: string;
  let pdf: PdfContents;
  let text: string;

  beforeAll(async () => {
    file = join(t.dir, 'all.pdf');
    const written = await writeReport(fx.db, fx.store, options(), { pdf: file });
    pdf = await readPdf(file);
    text = pdf.text;
    expect(written.pdfPages).toBe(pdf.pages);
  });

  it('prints the summary numbers the database holds, overall and per line', () => {
    expect(tableRow(text, 'All lines')).toEqual(truth(fx.db, period));
    for (const [name, id] of [
      ['Press A', fx.lines.a],
      ['Press B', fx.lines.b],
      ['Weld C', fx.lines.c],
    ] as const) {
      expect(tableRow(text, name)).toEqual(truth(fx.db, { ...period, lineId: id }));
    }
    for (let k = 0; k < 3; k++) {
      const day = new Date(BASE + k * DAY).toISOString().slice(0, 10);
      expect(tableRow(text, day)).toEqual(truth(fx.db, { from: BASE + k * DAY, to: BASE + (k + 1) * DAY }));
    }
  });

  it('prints the title facts, the models and the audit-chain head', () => {
    expect(text).toContain('Plant 3 inspection station');
    expect(text).toContain('Quality Manager Q');
    expect(text).toContain('LOT-2025/07 "A"');
    expect(text).toContain(FROM);
    const audit = fx.db.verifyAuditChain();
    expect(audit.ok).toBe(true);
    expect(text).toContain(audit.headHash!);
    expect(text).toMatch(new RegExp(`OK: ${audit.count} decisions verified`));
    // Names in other alphabets print as they are, Japanese and Korean ones too; what no report font has a
    // glyph for shows as "?" (never as an empty box or unrelated glyphs), and the report says how many
    // texts that happened to.
    const decidedBy = (name: string) => new RegExp(`by ${name.replace(/\?/g, '\\?')}(\\s|$)`, 'm');
    for (const name of UNICODE_OPERATORS.flat().filter((n) => n !== CJK_OPERATOR))
      expect(text).toMatch(decidedBy(name));
    expect(text).toMatch(decidedBy('山田太郎'));
    expect(text).toMatch(decidedBy('김민준'));
    expect(text).toMatch(decidedBy('??'));
    expect(text).not.toContain(CJK_OPERATOR);
    expect(text).toContain(
      '1 text(s) in this report had characters the report fonts cannot draw, printed as "?"; the CSV has them exactly.',
    );
    for (const m of fx.db.listModels()) {
      expect(text).toContain(m.version);
      expect(text).toContain(m.dataHash!);
    }
  });

  it('embeds subsets of DejaVu and, for the Japanese and Korean names, of Noto Sans CJK; no standard font', () => {
    // Every font the pages use, as pdffonts lists them: SUBSET+PostScript name, embedded, subset, ToUnicode.
    expect(pdf.fonts.map((f) => f.name.replace(/^[A-Z]{6}\+/, '')).sort()).toEqual([
      'DejaVuSans',
      'DejaVuSans-Bold',
      'DejaVuSansMono',
      'NotoSansJP-Regular',
      'NotoSansKR-Regular',
    ]);
    for (const f of pdf.fonts) {
      expect(f.name).toMatch(/^[A-Z]{6}\+/);
      expect([f.embedded, f.subset, f.toUnicode]).toEqual([true, true, true]);
    }
    // Subsets indeed: a few names' glyphs, not the 4.5 MB fonts they come from.
    for (const f of pdf.fonts.filter((x) => x.name.includes('Noto')))
      expect(f.fileBytes).toBeLessThan(40_000);
  });

  it('lists every flagged image of the period with both images, and numbers its pages', () => {
    const flagged = [...fx.db.iterateInspections({ ...period, verdict: 'flag' })];
    const listed = [...text.matchAll(/#(\d+) · (Press A|Press B|Weld C)/g)].map((m) => Number(m[1]));
    expect(listed).toEqual(flagged.map((r) => r.id));
    // Each flag shows its thumbnail and heatmap; a PNG missing from the store shows as an empty box, and
    // identical PNGs (content-addressed keys) are embedded once: one image object per key, drawn again.
    const draws = pdf.imageDraws.reduce((a, b) => a + b, 0);
    const missing = flagged.filter((r) => r.thumbnailKey === 'f'.repeat(64)).length;
    expect(missing).toBeGreaterThan(0);
    expect(text).toContain(`${missing} image(s) missing from the artifact store`);
    expect(draws).toBe(2 * flagged.length - missing);
    const keys = new Set(
      flagged.flatMap((r) => [r.thumbnailKey, r.heatmapKey]).filter((k) => k !== 'f'.repeat(64)),
    );
    expect(keys.size).toBeLessThan(draws);
    expect(pdf.imageObjects).toBe(keys.size);
    const n = pdf.pages;
    expect(n).toBeGreaterThan(4);
    for (let i = 1; i <= n; i++) expect(text).toContain(`Page ${i} of ${n}`);
  });

  it('reads back strictly on every page, each drawing text (kept in test-artifacts/reports for a look)', () => {
    // readPdf has pdf.js reject what it cannot parse instead of recovering, on every page.
    expect(pdf.pageText).toHaveLength(pdf.pages);
    for (const page of pdf.pageText) expect(page.trim()).not.toBe('');
    keepForALook(file, pdf.pages, 'report');
  });
});

describe('in the reader’s language', () => {
  // The report's own catalogues, read here to know what each language must say (the words are the
  // translators'; the test checks that they, and the numbers and names, reach the files).
  const catalogue = (lang: string) =>
    JSON.parse(readFileSync(join('src/main/reports/locales', `${lang}.json`), 'utf8')) as {
      title: string;
      allLines: string;
      column: Record<string, string>;
      csv: {
        column: Record<string, string>;
        verdict: Record<string, string>;
        decision: Record<string, string>;
      };
    };

  for (const lang of ['de', 'ja', 'ko'] as const) {
    it(`${lang}: the PDF speaks it, prints 山田太郎 and 김민준 exactly in embedded font subsets; the CSV too`, async () => {
      const m = catalogue(lang);
      const pdfFile = join(t.dir, `report-${lang}.pdf`);
      const csvFile = join(t.dir, `report-${lang}.csv`);
      const written = await writeReport(fx.db, fx.store, options({ language: lang }), {
        pdf: pdfFile,
        csv: csvFile,
      });
      const pdf = await readPdf(pdfFile);
      keepForALook(pdfFile, pdf.pages, `report-${lang}`);
      const text = pdf.text;
      expect(text).toContain(m.title);
      expect(text).toContain(m.column.confirmedDefects);
      for (const name of ['山田太郎', '김민준', 'Łukasz Zoë', 'Олег', 'Ζωή']) expect(text).toContain(name);
      // The same numbers as the database's, written as the language writes them (German: 1.234 and 12,50 %).
      const all = truth(fx.db, period);
      const row = new RegExp(
        `^\\s*${m.allLines}\\s+${all.inspected}\\s+${all.passed}\\s+${all.flagged}\\s`,
        'm',
      );
      expect(text).toMatch(row);
      const rate = all.flagRate.replace('%', '').replace('.', lang === 'de' ? ',' : '.');
      expect(text).toContain(lang === 'de' ? `${rate} %` : `${rate}%`);
      // Each font drawn with is embedded as a subset of the glyphs used, and maps back to text.
      const faces = pdf.fonts.map((f) => f.name.replace(/^[A-Z]{6}\+/, ''));
      // German in DejaVu with Noto JP / KR for the names; Japanese and Korean in their own Noto (Korean's has
      // the Hanja for 山田太郎), DejaVu for the words theirs lacks (Łukasz, Ζωή).
      const needed = {
        de: ['DejaVuSans', 'DejaVuSans-Bold', 'NotoSansJP-Regular', 'NotoSansKR-Regular'],
        ja: ['NotoSansJP-Regular', 'NotoSansJP-Bold', 'NotoSansKR-Regular', 'DejaVuSans'],
        ko: ['NotoSansKR-Regular', 'NotoSansKR-Bold', 'DejaVuSans'],
      }[lang];
      expect(faces).toEqual(expect.arrayContaining(needed));
      for (const f of pdf.fonts) {
        expect([f.embedded, f.subset, f.toUnicode], f.name).toEqual([true, true, true]);
        expect(f.fileBytes, f.name).toBeLessThan(
          lang === 'de' || !f.name.includes('Noto') ? 60_000 : 300_000,
        );
      }
      expect(written.pdfPages).toBe(pdf.pages);

      // The CSV: a byte order mark (spreadsheets then read the names right), the language's headers and
      // words, the same rows, names exactly.
      const bytes = readFileSync(csvFile);
      expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      const rows = parse(bytes, { columns: true, bom: true, record_delimiter: '\r\n' }) as CsvRow[];
      expect(Object.keys(rows[0])).toEqual(Object.values(m.csv.column));
      expect(rows).toHaveLength(fx.db.countInspections(period));
      const by = rows.map((r) => r[m.csv.column.decidedBy]);
      for (const name of UNICODE_OPERATORS.flat()) expect(by).toContain(name);
      const verdicts = new Set(rows.map((r) => r[m.csv.column.verdict]));
      expect([...verdicts].sort()).toEqual(Object.values(m.csv.verdict).sort());
      const ids = [...fx.db.iterateInspections(period)].map((r) => String(r.id));
      expect(rows.map((r) => r[m.csv.column.inspectionId])).toEqual(ids);
    });
  }
});

describe('page numbers', () => {
  it('are planned right however many flagged rows there are (the table written out page by page)', async () => {
    // One flagged row more each time, over three page breaks of the table: writePdfReport refuses to
    // finish if the page count it planned (and stamped on pages already written out) was wrong.
    const db = openDatabase(join(t.dir, 'paging', 'station.db'));
    const store = new ArtifactStore(join(t.dir, 'paging', 'images'));
    const line = db.addLine({ name: 'Paging', folder: '/cam/paging' });
    const seen = new Set<number>();
    try {
      for (let k = 1; k <= 50; k++) {
        db.insertInspection({
          lineId: line.id,
          modelId: null,
          modelVersion: null,
          filePath: `/cam/paging/${k}.png`,
          fileSize: k,
          fileMtimeMs: k,
          sha256: null,
          receivedAt: BASE + k * 1000,
          scoredAt: BASE + k * 1000,
          rawScore: 2,
          threshold: 1,
          verdict: 'flag',
        });
        const pdf = join(t.dir, 'paging', `${k}.pdf`);
        const { pdfPages: pages } = await writeReport(db, store, options(), { pdf });
        const read = await readPdfText(pdf);
        const n = read.pages;
        expect(pages).toBe(n);
        expect(read.pageText[n - 1]).toContain(`Page ${n} of ${n}`);
        seen.add(n);
      }
      expect(seen.size).toBeGreaterThanOrEqual(4); // the table grew over at least three page breaks
    } finally {
      db.close();
    }
  });
});

describe('filtered by line', () => {
  it('reports only that line, in the CSV and the PDF', async () => {
    const csv = join(t.dir, 'line-b.csv');
    const pdf = join(t.dir, 'line-b.pdf');
    const { summary } = await writeReport(fx.db, fx.store, options({ lineId: fx.lines.b }), { csv, pdf });
    expect(summary.lines.map((l) => l.id)).toEqual([fx.lines.b]);
    const rows = readCsv(csv);
    expect(rows).toHaveLength(fx.db.countInspections({ ...period, lineId: fx.lines.b }));
    expect(rows.length).toBeLessThan(fx.db.countInspections(period));
    expect(new Set(rows.map((r) => r.line))).toEqual(new Set(['Press B']));
    const read = await readPdf(pdf);
    const text = read.text;
    expect(text).toContain('Press B (report restricted to this line)');
    expect(tableRow(text, 'All lines')).toEqual(truth(fx.db, { ...period, lineId: fx.lines.b }));
    expect(text).not.toMatch(/Press A|Weld C/);
    const flagged = [...fx.db.iterateInspections({ ...period, lineId: fx.lines.b, verdict: 'flag' })];
    expect([...text.matchAll(/#(\d+) · Press B/g)].map((m) => Number(m[1]))).toEqual(
      flagged.map((r) => r.id),
    );
    keepForALook(pdf, read.pages, 'line-b');
  });
});

describe('empty period', () => {
  it('says so in both files instead of failing', async () => {
    const csv = join(t.dir, 'empty.csv');
    const pdf = join(t.dir, 'empty.pdf');
    const { summary } = await writeReport(
      fx.db,
      fx.store,
      options({ from: '2001-01-01T00:00:00Z', to: '2001-02-01T00:00:00Z' }),
      { csv, pdf },
    );
    expect(summary.overall.inspected).toBe(0);
    expect(summary.overall.flagRate).toBeNull();
    expect(readFileSync(csv, 'utf8')).toBe(`${Object.values(CSV_COLUMNS).join(',')}\r\n`);
    expect(readCsv(csv)).toEqual([]);
    const read = await readPdf(pdf);
    const text = read.text;
    expect(text).toContain(NO_INSPECTIONS);
    expect(tableRow(text, 'All lines')).toMatchObject({ inspected: 0, flagged: 0, flagRate: '–' });
    const n = read.pages;
    expect(text).toContain(`Page ${n} of ${n}`);
    keepForALook(pdf, n, 'empty');
  });
});

describe('tampered decisions', () => {
  it('the report says BROKEN naming the row, and `station report` exits 1 after writing it', async () => {
    const tampered = await buildFixture(join(t.dir, 'tampered'));
    const decisions = tampered.db.verifyAuditChain().count;
    const victim = Math.ceil(decisions / 2);
    tampered.db.close();
    // An editor with a SQLite tool: the append-only trigger dropped, a decision quietly changed.
    const raw = new Database(join(tampered.dir, 'station.db'));
    raw.exec('DROP TRIGGER decisions_no_update');
    expect(
      raw.prepare("UPDATE decisions SET decision = 'defect', comment = 'fine' WHERE id = ?").run(victim)
        .changes,
    ).toBe(1);
    raw.close();

    const pdf = join(t.dir, 'tampered.pdf');
    const csv = join(t.dir, 'tampered.csv');
    const r = await cli(
      'report',
      '--data-dir',
      tampered.dir,
      '--from',
      FROM,
      '--to',
      TO,
      '--pdf',
      pdf,
      '--csv',
      csv,
      '--by',
      'Quality Manager Q',
      '--station',
      'Plant 3',
    );
    expect(r.code, r.err).toBe(1);
    expect(r.out).toMatch(new RegExp(`audit chain BROKEN at decision ${victim}: hash mismatch`));
    expect(r.out).toMatch(/wrote .*tampered\.pdf/);
    const read = await readPdf(pdf);
    const text = read.text;
    expect(text).toContain(`AUDIT CHAIN BROKEN at decision #${victim}`);
    expect(text).toMatch(new RegExp(`First bad row\\s+decision #${victim}`));
    expect(text).toContain('UNVERIFIED');
    keepForALook(pdf, read.pages, 'tampered');
    const rows = readCsv(csv).filter((row) => row.decision_id !== '');
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows)
      expect(row.decision_in_verified_chain).toBe(Number(row.decision_id) < victim ? 'yes' : 'no');
  });

  it('`station report` resolves a line by name and exits 0 on an intact chain', async () => {
    const csv = join(t.dir, 'cli-c.csv');
    const r = await cli(
      'report',
      '--data-dir',
      fx.dir,
      '--from',
      FROM,
      '--to',
      TO,
      '--line',
      'Weld C',
      '--csv',
      csv,
      '--by',
      'Q',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/audit chain OK/);
    const expected = truth(fx.db, { ...period, lineId: fx.lines.c });
    expect(r.out).toContain(
      `inspected ${expected.inspected}, passed ${expected.passed}, flagged ${expected.flagged}`,
    );
    expect(readCsv(csv)).toHaveLength(expected.inspected);
    const bad = await cli('report', '--data-dir', fx.dir, '--from', FROM, '--to', TO, '--line', 'Nope');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/no line "Nope"; lines: Press A/);
  });
});
