// What an audit report says, computed once: the PDF and the CSV writers print it, and a UI preview shows
// the same numbers. Aggregates come from one GROUP BY per local day of the period (periodCounts; days are
// the reader's local days, see local-days.ts) and rows are streamed in chunks (iterateInspections), so
// memory does not grow with the period's length.
import type {
  ReportActivation,
  ReportCounts,
  ReportDay,
  ReportLine,
  ReportModel,
  ReportSummary,
  ReportThreshold,
} from '../../common/report';
import type { Language } from '../../common/languages';
import { localDays, systemTimeZone, timeZoneLabel } from './local-days';
import { LineageStore } from '../station/lineage/store';
import { lineageEntry, verifyLineage } from '../station/lineage/records';
import {
  toIso,
  type DecisionValue,
  type InspectionFilters,
  type InspectionWithDecision,
  type LineRow,
  type ModelRow,
  type StationDatabase,
  type Verdict,
} from '../station/database';

export type {
  ReportActivation,
  ReportCounts,
  ReportDay,
  ReportLine,
  ReportModel,
  ReportSummary,
  ReportThreshold,
};

export interface ReportOptions {
  /** Start of the period (inclusive), ISO 8601. Inspections belong to the period by when they were scored. */
  from: string;
  /** End of the period (exclusive, so consecutive reports never overlap), ISO 8601. */
  to: string;
  /** Only this line; all lines when absent. */
  lineId?: number;
  /**
   * Lot or batch tag. The station database has no lot concept (an inspection records its line, file and
   * time, not the batch it belonged to), so the tag filters nothing: it is printed on the report as a label.
   */
  lot?: string;
  /** IANA time zone whose local days the per-day figures use. Default: the station's own zone. */
  timeZone?: string;
  /** The language the PDF and CSV are written in (./locales). Default: English. */
  language?: Language;
  /** Who generated the report (the quality manager's name). */
  generatedBy: string;
  stationName: string;
  /** Defaults to now; tests pin it. */
  generatedAt?: Date;
}

export function emptyCounts(): ReportCounts {
  return {
    inspected: 0,
    passed: 0,
    flagged: 0,
    errors: 0,
    confirmedDefects: 0,
    missedDefects: 0,
    falseAlarms: 0,
    unreviewed: 0,
    flaggedConfirmed: 0,
    flaggedCleared: 0,
    knownGood: 0,
    flagRate: null,
    yield: null,
  };
}

function addGroup(c: ReportCounts, verdict: Verdict, decision: DecisionValue | null, n: number): void {
  c.inspected += n;
  if (verdict === 'pass') c.passed += n;
  else if (verdict === 'flag') c.flagged += n;
  else c.errors += n;
  if (decision === 'defect') {
    c.confirmedDefects += n;
    if (verdict === 'pass') c.missedDefects += n;
  } else if (decision === 'false_alarm') c.falseAlarms += n;
  else if (verdict === 'flag') c.unreviewed += n;
  if (verdict === 'flag' && decision === 'defect') c.flaggedConfirmed += n;
  if (verdict === 'flag' && decision === 'false_alarm') c.flaggedCleared += n;
  if ((verdict === 'pass' && decision !== 'defect') || (verdict === 'flag' && decision === 'false_alarm'))
    c.knownGood += n;
}

function finishRates(c: ReportCounts): ReportCounts {
  const scored = c.inspected - c.errors;
  c.flagRate = scored > 0 ? c.flagged / scored : null;
  c.yield = scored > 0 ? c.knownGood / scored : null;
  return c;
}

/** The calibration date as the station's API reports it (calibration happens when the model is trained). */
const calibratedAt = (m: ModelRow): string | null => (m.meta.calibration ? m.createdAt : null);

/** Compute everything the report prints except the per-inspection rows (which are streamed). */
export function reportSummary(db: StationDatabase, options: ReportOptions): ReportSummary {
  const from = toIso(options.from);
  const to = toIso(options.to);
  if (from >= to) throw new Error(`the report period must end after it starts (from ${from}, to ${to})`);
  const generatedBy = options.generatedBy.trim();
  if (!generatedBy) throw new Error('a report needs the name of the person who generated it');
  const generatedAt = (options.generatedAt ?? new Date()).toISOString();
  const snapshotId = db.lastInspectionId();

  const allLines = db.listLines({ includeRemoved: true });
  const lineById = new Map(allLines.map((l) => [l.id, l]));
  let lineFilter: ReportSummary['lineFilter'] = null;
  if (options.lineId !== undefined) {
    const line = lineById.get(options.lineId);
    if (!line) throw new Error(`no line #${options.lineId}`);
    lineFilter = { id: line.id, name: line.name };
  }

  const timeZone = options.timeZone ?? systemTimeZone();
  const overall = emptyCounts();
  const perLine = new Map<number, ReportCounts>();
  const perDay = new Map<string, ReportCounts>();
  const perModel = new Map<number, number>();
  const days = localDays(Date.parse(from), Date.parse(to), timeZone);
  for (const day of days) {
    const groups = db.periodCounts({ from: day.from, to: day.to, lineId: lineFilter?.id, maxId: snapshotId });
    for (const g of groups) {
      addGroup(overall, g.verdict, g.decision, g.n);
      for (const [map, key] of [
        [perLine, g.lineId],
        [perDay, day.day],
      ] as [Map<unknown, ReportCounts>, unknown][]) {
        let c = map.get(key);
        if (!c) map.set(key, (c = emptyCounts()));
        addGroup(c, g.verdict, g.decision, g.n);
      }
      if (g.modelId !== null) perModel.set(g.modelId, (perModel.get(g.modelId) ?? 0) + g.n);
    }
  }

  const aliveDuring = (l: LineRow) => l.createdAt < to && (l.removedAt === null || l.removedAt >= from);
  const reported = lineFilter
    ? [lineById.get(lineFilter.id)!]
    : allLines.filter((l) => perLine.has(l.id) || aliveDuring(l));
  const lines: ReportLine[] = reported.map((l) => ({
    id: l.id,
    name: l.name,
    folder: l.folder,
    removedAt: l.removedAt,
    counts: finishRates(perLine.get(l.id) ?? emptyCounts()),
  }));

  const modelById = new Map(db.listModels().map((m) => [m.id, m]));
  const activations: ReportActivation[] = [];
  for (const line of reported) {
    const history = db.lineModelHistory(line.id);
    const atStart = history.filter((h) => h.activatedAt <= from).at(-1);
    for (const h of history) {
      if (h !== atStart && (h.activatedAt <= from || h.activatedAt >= to)) continue;
      const model = h.modelId === null ? undefined : modelById.get(h.modelId);
      activations.push({
        lineId: line.id,
        lineName: line.name,
        activatedAt: h.activatedAt,
        inForceAtStart: h === atStart,
        modelId: h.modelId,
        modelName: model?.name ?? null,
        modelVersion: model?.version ?? null,
        thresholdOverride: h.thresholdOverride,
        thresholdInForce: h.thresholdOverride ?? model?.threshold ?? null,
      });
    }
  }

  const applied = new Map<number, ReportThreshold[]>();
  for (const r of db.periodThresholds({ from, to, lineId: lineFilter?.id, maxId: snapshotId })) {
    if (r.modelId === null) continue;
    const list = applied.get(r.modelId) ?? [];
    list.push({
      lineId: r.lineId,
      lineName: lineById.get(r.lineId)?.name ?? `#${r.lineId}`,
      threshold: r.threshold,
      inspected: r.n,
      first: r.first,
      last: r.last,
    });
    applied.set(r.modelId, list);
  }

  const lineage = new LineageStore(db);
  const modelIds = new Set<number>(perModel.keys());
  for (const a of activations) if (a.modelId !== null) modelIds.add(a.modelId);
  const models: ReportModel[] = [...modelIds]
    .map((id) => modelById.get(id))
    .filter((m): m is ModelRow => m !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name) || a.registeredAt.localeCompare(b.registeredAt))
    .map((m) => ({
      id: m.id,
      name: m.name,
      method: m.method,
      version: m.version,
      trainingDataHash: m.dataHash,
      threshold: m.threshold,
      applied: applied.get(m.id) ?? [],
      calibratedAt: calibratedAt(m),
      inspected: perModel.get(m.id) ?? 0,
      lineage: ((r) => (r ? lineageEntry(db, lineage, r) : null))(lineage.createdRecord(m.id)),
    }));

  return {
    stationName: options.stationName,
    generatedBy,
    generatedAt,
    lot: options.lot?.trim() || null,
    period: { from, to },
    timeZone,
    timeZoneLabel: timeZoneLabel(timeZone, Date.parse(from), Date.parse(to)),
    snapshotId,
    lineFilter,
    lines,
    overall: finishRates(overall),
    days: [...perDay.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([day, counts]) => ({ day, counts: finishRates(counts) })),
    models,
    activations,
    audit: db.verifyAuditChain(),
    lineageAudit: verifyLineage(lineage),
  };
}

/** The inspections a report covers, as filters: the CSV rows and the PDF's flagged table use exactly these. */
export function reportFilters(s: ReportSummary): InspectionFilters {
  return { from: s.period.from, to: s.period.to, lineId: s.lineFilter?.id, maxId: s.snapshotId };
}

/** Whether a decision lies in the verified part of the chain (every one does when the chain is intact). */
export function decisionVerified(s: ReportSummary, decisionId: number): boolean {
  return s.audit.ok || decisionId < (s.audit.firstBadId ?? Infinity);
}

/** Names for the ids on streamed rows (lines and models are few: loaded once). */
export interface RowNames {
  line(id: number): string;
  model(id: number | null): ModelRow | undefined;
}

export function rowNames(db: StationDatabase): RowNames {
  const lines = new Map(db.listLines({ includeRemoved: true }).map((l) => [l.id, l.name]));
  const models = new Map(db.listModels().map((m) => [m.id, m]));
  return {
    line: (id) => lines.get(id) ?? `#${id}`,
    model: (id) => (id === null ? undefined : models.get(id)),
  };
}

/** The report's inspections, oldest first, with their latest decision; read in chunks, never all at once. */
export function reportRows(
  db: StationDatabase,
  s: ReportSummary,
  only?: { verdict: Verdict },
): Generator<InspectionWithDecision> {
  return db.iterateInspections({ ...reportFilters(s), ...only });
}
