// The report's CSV: one row per inspection in the period with its latest decision, streamed from the
// database through csv-stringify to the file. RFC 4180 (header row, CRLF, fields quoted when they hold a
// comma, quote or line break), station times as stored (ISO 8601 UTC with milliseconds) plus the local day
// each row counts in (the report's time zone, named on every row, as the PDF's per-day table), and safe to open
// in a spreadsheet: text starting with = + - @ tab or CR gets a leading apostrophe so it is never run as a
// formula (numbers stay numbers). In the report's language: its header row and its words (verdict, decision,
// yes/no), with a UTF-8 byte order mark so a spreadsheet reads the names right; English is the machine-readable
// form, unchanged: identifiers as headers, no byte order mark. Numbers and times are the same in every
// language (full precision, ISO 8601), so the file reads back as the database holds it.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { Language } from '../../common/languages';
import type { InspectionWithDecision, StationDatabase } from '../station/database';
import { ENGLISH, reportText, type ReportText } from './i18n';
import { localDays } from './local-days';
import { decisionVerified, reportRows, rowNames, type ReportSummary } from './report-data';

/** Column key -> header (English: the identifiers), in file order; other languages: locales/<lang>.json. */
export const CSV_COLUMNS: Readonly<Record<keyof typeof ENGLISH.csv.column, string>> = ENGLISH.csv.column;

type CsvRecord = Record<keyof typeof CSV_COLUMNS, string | number | null>;

const FORMULA_START = /^[=+\-@\t\r]/;

/** Text a spreadsheet would evaluate (=, +, -, @, or a tab / CR before one) is prefixed with an apostrophe. */
export function neutraliseFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** The local day (in the report's time zone) of a scoring time: a binary search over the period's days. */
function dayOf(s: ReportSummary): (scoredAt: string) => string {
  const days = localDays(Date.parse(s.period.from), Date.parse(s.period.to), s.timeZone);
  return (scoredAt) => {
    const t = Date.parse(scoredAt);
    let [lo, hi] = [0, days.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (days[mid].from <= t) lo = mid;
      else hi = mid - 1;
    }
    return days[lo]?.day ?? '';
  };
}

function toRecord(
  r: InspectionWithDecision,
  names: ReturnType<typeof rowNames>,
  s: ReportSummary,
  day: (scoredAt: string) => string,
  x: ReportText,
): CsvRecord {
  const d = r.latestDecision;
  return {
    inspectionId: r.id,
    lineId: r.lineId,
    line: names.line(r.lineId),
    filePath: r.filePath,
    fileSize: r.fileSize,
    sha256: r.sha256,
    receivedAt: r.receivedAt,
    scoredAt: r.scoredAt,
    localDay: day(r.scoredAt),
    timeZone: s.timeZone,
    model: names.model(r.modelId)?.name ?? null,
    modelVersion: r.modelVersion,
    engine: r.engine,
    rawScore: r.rawScore,
    normalizedScore: r.normalizedScore,
    threshold: r.threshold,
    verdict: x.t(`csv.verdict.${r.verdict}`),
    errorText: r.errorText,
    decision: d ? x.t(`csv.decision.${d.decision}`) : null,
    decidedBy: d?.operator ?? null,
    decidedAt: d?.decidedAt ?? null,
    comment: d?.comment ?? null,
    decisionCount: r.decisionCount,
    decisionId: d?.id ?? null,
    decisionHash: d?.hash ?? null,
    decisionVerified: d ? x.t(decisionVerified(s, d.id) ? 'csv.yes' : 'csv.no') : null,
    // The database has no lots: the report's label, repeated so the file carries it on its own.
    lot: s.lot,
  };
}

/** Write the CSV (via a temp file renamed into place, so a failed export leaves no half file); returns the row count. */
export async function writeCsvReport(
  db: StationDatabase,
  summary: ReportSummary,
  file: string,
  language: Language = 'en',
): Promise<number> {
  const names = rowNames(db);
  const day = dayOf(summary);
  const x = reportText(language);
  let rows = 0;
  const records = new Transform({
    objectMode: true,
    transform(r: InspectionWithDecision, _enc, done) {
      rows++;
      const record = toRecord(r, names, summary, day, x);
      for (const key of Object.keys(record) as (keyof CsvRecord)[]) {
        const v = record[key];
        if (typeof v === 'string') record[key] = neutraliseFormula(v);
      }
      done(null, record);
    },
  });
  const tmp = `${file}.partial`;
  try {
    await pipeline(
      Readable.from(reportRows(db, summary)),
      records,
      stringify({
        header: true,
        bom: language !== 'en',
        columns: Object.keys(CSV_COLUMNS).map((key) => ({ key, header: x.t(`csv.column.${key}`) })),
        record_delimiter: 'windows',
        // Full precision: a score reads back as the number the database holds.
        cast: { number: (n) => String(n) },
      }),
      createWriteStream(tmp),
    );
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return rows;
}
