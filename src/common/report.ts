// What an audit report says (src/main/reports computes it once; the PDF, the CSV and the UI's preview all
// show it). Types only, shared by main and renderer.
import type { AuditResult, ChainResult, LineageEntry } from './api';

export interface ReportCounts {
  inspected: number;
  passed: number;
  flagged: number;
  errors: number;
  /** Latest decision 'defect', whatever the verdict. */
  confirmedDefects: number;
  /** Of those, images the model passed: defects it missed. */
  missedDefects: number;
  /** Latest decision 'false_alarm'. */
  falseAlarms: number;
  /** Flagged and not decided yet. */
  unreviewed: number;
  /** Flagged and confirmed a defect (flagged = flaggedConfirmed + flaggedCleared + unreviewed). */
  flaggedConfirmed: number;
  /** Flagged and cleared as a false alarm. */
  flaggedCleared: number;
  /** Passed and not later marked defect, or flagged and cleared as a false alarm. */
  knownGood: number;
  /** flagged / scored (inspected - errors); null when nothing was scored. */
  flagRate: number | null;
  /** knownGood / scored: unreviewed flags do not count as good until someone clears them. */
  yield: number | null;
}

export interface ReportLine {
  id: number;
  name: string;
  folder: string;
  removedAt: string | null;
  counts: ReportCounts;
}

export interface ReportDay {
  /** YYYY-MM-DD, a local day in the report's time zone (ReportSummary.timeZone). */
  day: string;
  counts: ReportCounts;
}

export interface ReportModel {
  id: number;
  name: string;
  method: string;
  version: string;
  trainingDataHash: string | null;
  /** The model's calibrated raw-score threshold (a line may override it, see activations and `applied`). */
  threshold: number | null;
  /** The thresholds its images were actually judged by in the period (from the inspection rows). */
  applied: ReportThreshold[];
  /** Calibration is part of training: the model's creation time, as the station's API reports it. */
  calibratedAt: string | null;
  /** Images it judged in the period. */
  inspected: number;
  /** For a child made from operators' false alarms: the lineage record that made it (null: trained from a folder). */
  lineage: LineageEntry | null;
}

/** One threshold a model judged a line's images by in the period, as the inspection rows record it. */
export interface ReportThreshold {
  lineId: number;
  lineName: string;
  /** Raw score; null only for rows scored without one. */
  threshold: number | null;
  /** Images judged by it (pass or flag). */
  inspected: number;
  /** scored_at of the first and last of them. */
  first: string;
  last: string;
}

/** A model (or threshold override) taking effect on a line: the one in force at the period's start, then changes. */
export interface ReportActivation {
  lineId: number;
  lineName: string;
  activatedAt: string;
  /** True for the activation already in force when the period began. */
  inForceAtStart: boolean;
  modelId: number | null;
  modelName: string | null;
  modelVersion: string | null;
  thresholdOverride: number | null;
  /** The override, else the model's threshold. */
  thresholdInForce: number | null;
}

export interface ReportSummary {
  stationName: string;
  generatedBy: string;
  generatedAt: string;
  lot: string | null;
  period: { from: string; to: string };
  /** IANA time zone whose local days `days` are (the reader's; the station's own when none was asked for). */
  timeZone: string;
  /** The zone with its UTC offset(s) in the period, as every output prints it: "Europe/Berlin, UTC+01:00". */
  timeZoneLabel: string;
  /**
   * The newest inspection when the report was started: every part of the report reads rows up to it, so a
   * report on a period the station is still filling is one consistent set (the flagged table lists exactly
   * the flagged count). Decisions are read as they are when each part is written.
   */
  snapshotId: number;
  /** The line the report is restricted to, or null for all lines. */
  lineFilter: { id: number; name: string } | null;
  /** The lines reported: those with inspections in the period or alive during it (zero counts allowed). */
  lines: ReportLine[];
  overall: ReportCounts;
  /** Local days (in timeZone) with inspections, oldest first. */
  days: ReportDay[];
  models: ReportModel[];
  activations: ReportActivation[];
  /** The whole decisions chain (it is one chain for the station, not per period). */
  audit: AuditResult;
  /** The model lineage's chain (children made from feedback, activations, discards): also station-wide. */
  lineageAudit: ChainResult;
}
