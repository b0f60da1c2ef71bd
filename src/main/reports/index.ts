// Audit reports a quality manager hands to an auditor: a PDF and a CSV of one period (optionally one
// line), both written from one ReportSummary so every output, and a UI preview, shows the same numbers, in
// the language asked for (./i18n).
import type { ArtifactStore } from '../station/artifacts';
import type { StationDatabase } from '../station/database';
import { writeCsvReport } from './csv-report';
import { writePdfReport } from './pdf-report';
import { reportSummary, type ReportOptions, type ReportSummary } from './report-data';

export { CSV_COLUMNS, neutraliseFormula, writeCsvReport } from './csv-report';
export { NO_INSPECTIONS, writePdfReport } from './pdf-report';
export { localDate, localDays, systemTimeZone, timeZoneLabel } from './local-days';
export { reportText, type ReportText } from './i18n';
export {
  reportSummary,
  type ReportActivation,
  type ReportCounts,
  type ReportDay,
  type ReportLine,
  type ReportModel,
  type ReportThreshold,
  type ReportOptions,
  type ReportSummary,
} from './report-data';

export interface ReportFiles {
  pdf?: string;
  csv?: string;
}

export interface WrittenReport {
  summary: ReportSummary;
  /** Rows written to the CSV (when one was asked for). */
  csvRows?: number;
  /** Pages of the PDF (when one was asked for). */
  pdfPages?: number;
}

/**
 * Compute the summary once, then write the files asked for from it. A broken audit chain does not stop
 * the report: it says BROKEN (summary.audit), and the caller decides what that means for its exit status.
 */
export async function writeReport(
  db: StationDatabase,
  artifacts: ArtifactStore,
  options: ReportOptions,
  files: ReportFiles,
): Promise<WrittenReport> {
  const summary = reportSummary(db, options);
  const written: WrittenReport = { summary };
  const language = options.language ?? 'en';
  if (files.csv) written.csvRows = await writeCsvReport(db, summary, files.csv, language);
  if (files.pdf) written.pdfPages = (await writePdfReport(db, artifacts, summary, files.pdf, language)).pages;
  return written;
}
