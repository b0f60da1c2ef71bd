// `station report`: the audit report of a period from the station's data dir (PDF and/or CSV), its summary
// printed on stdout. Exits 1 when the audit chain is broken, after writing the files (which say BROKEN).
import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { ArtifactStore } from '../station/artifacts';
import { openDatabase, type StationDatabase } from '../station/database';
import { writeReport, type ReportCounts, type ReportSummary } from '../reports';
import { UsageError, type CommandSpec, type OptionValues } from './args';

export const REPORT = {
  name: 'report',
  summary:
    'audit report of a period: prints the summary, writes the PDF / CSV; exit 1 if the chain is broken',
  options: {
    from: { type: 'string', value: 'ISO', help: 'start of the period, e.g. 2025-03-01 (by scoring time)' },
    to: { type: 'string', value: 'ISO', help: 'end of the period (exclusive)' },
    line: { type: 'string', value: 'NAME|ID', help: 'one line (default: all)' },
    lot: { type: 'string', value: 'TAG', help: 'a lot/batch label printed on the report (not a filter)' },
    pdf: { type: 'string', value: 'FILE', help: 'write the PDF report' },
    csv: { type: 'string', value: 'FILE', help: 'write the CSV (one row per inspection)' },
    'data-dir': { type: 'string', value: 'DIR', default: '.station', help: "the station's data folder" },
    by: { type: 'string', value: 'NAME', help: 'who generated it (default: your user name)' },
    station: { type: 'string', value: 'NAME', help: "the station's name (default: the host name)" },
  },
  notes: ['A broken decision trail or model lineage still writes the files (marked BROKEN) and exits 1.'],
} as const satisfies CommandSpec;

/** A line by id, or by name (a live line first, else the most recently removed one of that name). */
export function resolveLine(db: StationDatabase, arg: string): number {
  const lines = db.listLines({ includeRemoved: true });
  if (/^\d+$/.test(arg)) {
    const byId = lines.find((l) => l.id === Number(arg));
    if (byId) return byId.id;
  }
  const named = lines
    .filter((l) => l.name === arg)
    .sort((a, b) => Number(a.removedAt !== null) - Number(b.removedAt !== null) || b.id - a.id);
  if (named.length) return named[0].id;
  const known = lines.map((l) => `${l.name} (#${l.id})`).join(', ') || 'none';
  throw new Error(`no line "${arg}"; lines: ${known}`);
}

const pct = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(2)}%`);

function countsText(c: ReportCounts): string {
  return (
    `inspected ${c.inspected}, passed ${c.passed}, flagged ${c.flagged}, confirmed defects ${c.confirmedDefects}, ` +
    `false alarms ${c.falseAlarms}, unreviewed ${c.unreviewed}, errors ${c.errors}, ` +
    `flag rate ${pct(c.flagRate)}, yield ${pct(c.yield)}`
  );
}

export function formatSummary(s: ReportSummary): string {
  const out = [
    `report: ${s.stationName}; period ${s.period.from} to ${s.period.to} (UTC, end exclusive)`,
    `lines: ${s.lineFilter ? s.lineFilter.name : s.lines.map((l) => l.name).join(', ') || 'none'}` +
      (s.lot ? `; lot/batch label: ${s.lot}` : ''),
    s.overall.inspected ? `all lines: ${countsText(s.overall)}` : 'No inspections in this period',
  ];
  if (s.overall.inspected && !s.lineFilter)
    for (const l of s.lines) out.push(`  ${l.name}: ${countsText(l.counts)}`);
  const a = s.audit;
  out.push(
    a.ok
      ? `audit chain OK: ${a.count} decisions, head ${a.headHash ?? '(empty)'}`
      : `audit chain BROKEN at decision ${a.firstBadId}: ${a.reason} (${a.count} decisions verified)`,
  );
  const l = s.lineageAudit;
  out.push(
    l.ok
      ? `model lineage OK: ${l.count} records, head ${l.headHash ?? '(empty)'}`
      : `model lineage BROKEN at record ${l.firstBadId}: ${l.reason} (${l.count} records verified)`,
  );
  return out.join('\n');
}

export async function cmdReport(values: OptionValues<typeof REPORT.options>): Promise<number> {
  if (!values.from || !values.to) throw new UsageError('report needs --from ISO and --to ISO', 'report');
  const dataDir = resolve(values['data-dir']);
  const file = join(dataDir, 'station.db');
  if (!existsSync(file)) throw new Error(`no station database at ${file}`);
  const db = openDatabase(file);
  try {
    const { summary, csvRows, pdfPages } = await writeReport(
      db,
      new ArtifactStore(join(dataDir, 'images')),
      {
        from: values.from,
        to: values.to,
        lineId: values.line === undefined ? undefined : resolveLine(db, values.line),
        lot: values.lot,
        generatedBy: values.by ?? userInfo().username,
        stationName: values.station ?? hostname(),
      },
      {
        pdf: values.pdf && resolve(values.pdf),
        csv: values.csv && resolve(values.csv),
      },
    );
    console.log(formatSummary(summary));
    if (values.pdf) console.log(`wrote ${values.pdf} (${pdfPages} pages)`);
    if (values.csv) console.log(`wrote ${values.csv} (${csvRows} rows)`);
    return summary.audit.ok && summary.lineageAudit.ok ? 0 : 1;
  } finally {
    db.close();
  }
}
