// The audit-report benchmark: time and peak memory of the CSV and PDF exports on a station database of
// 100,000 inspections (a few lines over a month, ~3% flagged, part of the flags decided and some of those
// corrected, real PNG thumbnails and heatmaps in the artifact store, shared by content address).
//
//   npm run bench:report -- [--inspections 100000] [--lines 4] [--days 30] [--flag-rate 0.03]
//                           [--decided 0.6] [--images 300] [--reps 3] [--out bench/results]
//                           [--work DIR] [--keep] [--language en|de|ja|ko]
//
// Each export runs in a fresh child process (the same script with --child), so its peak RSS is its own:
// sampled every 50 ms with process.memoryUsage().rss, and the kernel's ru_maxrss as a cross-check for peaks
// between samples. A second, 3-day report on the same database shows whether memory follows the period.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Language } from '../src/common/languages';
import { reportSummary, writeCsvReport, writePdfReport, type ReportOptions } from '../src/main/reports';
import { ArtifactStore } from '../src/main/station/artifacts';
import { openDatabase, type Verdict } from '../src/main/station/database';
import { artifactPair, fakeModelMeta } from '../test/helpers/station-records';

const { values } = parseArgs({
  options: {
    inspections: { type: 'string', default: '100000' },
    lines: { type: 'string', default: '4' },
    days: { type: 'string', default: '30' },
    'flag-rate': { type: 'string', default: '0.03' },
    decided: { type: 'string', default: '0.6' },
    images: { type: 'string', default: '300' },
    reps: { type: 'string', default: '3' },
    // The language the reports are written in (a Japanese or Korean one embeds Noto Sans CJK subsets).
    language: { type: 'string', default: 'en' },
    out: { type: 'string', default: 'bench/results' },
    work: { type: 'string', default: join(os.tmpdir(), `report-bench-${process.pid}`) },
    // Keep the work folder (database, artifacts, last outputs) for a look or a profile.
    keep: { type: 'boolean', default: false },
    // Internal: run one export in this process and print its measurements as JSON.
    child: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
  },
});

const DAY = 86_400_000;
/** The period starts at this midnight UTC (fixed, so runs are comparable). */
const START = Date.parse('2025-03-01T00:00:00.000Z');
const MB = 2 ** 20;
/** The JS heap cap for the "fits in a small heap" check. */
const HEAP_CAP_MB = 48;

interface ChildResult {
  seconds: number;
  baseRssMB: number;
  peakRssMB: number;
  maxRssMB: number;
  bytes: number;
  rows?: number;
  pages?: number;
}

// ------------------------------------------------------------------------------------------ the child

async function child(kind: string, work: string, from: string, to: string): Promise<void> {
  const db = openDatabase(join(work, 'station.db'));
  const artifacts = new ArtifactStore(join(work, 'images'));
  const options: ReportOptions = {
    from,
    to,
    generatedBy: 'bench',
    stationName: 'report benchmark',
    language: values.language as Language,
  };
  const file = join(work, `out.${kind === 'pdf' ? 'pdf' : 'csv'}`);
  const baseRss = process.memoryUsage().rss;
  let peak = baseRss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  // The summary is part of every export (both writers print from it).
  const summary = reportSummary(db, options);
  let rows: number | undefined;
  let pages: number | undefined;
  if (kind === 'read') {
    // The reference: the same summary, then every row of the period read through the same streaming query
    // and nothing written. What the CSV costs beyond this is formatting and writing.
    rows = 0;
    for (const row of db.iterateInspections({ from, to, maxId: summary.snapshotId })) if (row.id) rows += 1;
    writeFileSync(file, '');
  } else if (kind === 'csv') rows = await writeCsvReport(db, summary, file, options.language);
  else pages = (await writePdfReport(db, artifacts, summary, file, options.language)).pages;
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  db.close();
  const result: ChildResult = {
    seconds,
    baseRssMB: baseRss / MB,
    peakRssMB: peak / MB,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    bytes: statSync(file).size,
    rows,
    pages,
  };
  console.log(JSON.stringify(result));
}

// ------------------------------------------------------------------------------------------ the parent

/** A deterministic pseudo-random stream (the same database on every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function build(work: string) {
  const total = Number(values.inspections);
  const lineCount = Number(values.lines);
  const days = Number(values.days);
  const flagRate = Number(values['flag-rate']);
  const decided = Number(values.decided);
  const db = openDatabase(join(work, 'station.db'));
  const store = new ArtifactStore(join(work, 'images'));
  const pairs: { thumb: string; heat: string }[] = [];
  for (let i = 0; i < Number(values.images); i++) pairs.push(await artifactPair(store, i, 128, 64));
  const random = rng(42);

  const models = [db.registerModel({ folder: '/models/a', meta: fakeModelMeta('bracket-ganomaly', 0.8) })];
  models.push(db.registerModel({ folder: '/models/b', meta: fakeModelMeta('housing-ganomaly', 1.2) }));
  const lines = [];
  for (let l = 0; l < lineCount; l++)
    lines.push(db.addLine({ name: `Line ${l + 1}`, folder: `/cam/${l + 1}`, modelId: models[l % 2].id }));

  const step = (days * DAY) / total;
  const flagged: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const line = lines[i % lineCount];
    const model = models[(i % lineCount) % 2];
    const at = START + Math.floor(i * step);
    const u = random();
    const verdict: Verdict = u < flagRate ? 'flag' : u < flagRate + 0.002 ? 'error' : 'pass';
    const threshold = model.threshold!;
    const raw = verdict === 'flag' ? threshold * (1.05 + random()) : threshold * (0.4 + 0.5 * random());
    const pair = pairs[i % pairs.length];
    const id = db.insertInspection({
      lineId: line.id,
      modelId: model.id,
      modelVersion: model.version,
      filePath: `/cam/${line.id}/2025/03/part-${String(i).padStart(7, '0')}.png`,
      fileSize: 180_000 + (i % 5000),
      fileMtimeMs: at - 200,
      sha256: (i * 2654435761).toString(16).padStart(16, '0').repeat(4).slice(0, 64),
      receivedAt: at - 120,
      scoredAt: at,
      decodeMs: 4,
      scoreMs: 11,
      rawScore: verdict === 'error' ? null : raw,
      normalizedScore: verdict === 'error' ? null : Math.min(1, (0.5 * raw) / threshold),
      threshold: verdict === 'error' ? null : threshold,
      verdict,
      errorText: verdict === 'error' ? 'decode failed: truncated PNG' : null,
      thumbnailKey: verdict === 'flag' ? pair.thumb : null,
      heatmapKey: verdict === 'flag' ? pair.heat : null,
      engine: 'onnxruntime-node',
    });
    if (verdict === 'flag') flagged.push(id);
  }
  const insertSeconds = (performance.now() - t0) / 1000;
  let decisions = 0;
  let corrections = 0;
  for (const id of flagged) {
    if (random() >= decided) continue;
    const insp = db.getInspection(id)!;
    const at = Date.parse(insp.scoredAt) + 600_000;
    const first = db.appendDecision({
      inspectionId: id,
      decision: random() < 0.4 ? 'defect' : 'false_alarm',
      operator: random() < 0.5 ? 'Ana Silva' : 'Ben Okafor',
      comment: random() < 0.3 ? 'scratch near the mounting hole, 2 mm, photographed' : null,
      decidedAt: at,
    });
    decisions++;
    if (random() < 0.1) {
      db.appendDecision({
        inspectionId: id,
        decision: first.decision === 'defect' ? 'false_alarm' : 'defect',
        operator: 'Quality Lead',
        comment: 'corrected on second look',
        correctsDecisionId: first.id,
        decidedAt: at + 3_600_000,
      });
      decisions++;
      corrections++;
    }
  }
  db.close();
  return { total, flagged: flagged.length, decisions, corrections, insertSeconds, lineCount, days };
}

function runChild(
  kind: string,
  work: string,
  from: string,
  to: string,
  nodeArgs: string[] = [],
): ChildResult {
  const out = execFileSync(
    process.execPath,
    [
      ...nodeArgs,
      '--import',
      'tsx',
      'bench/report.ts',
      '--child',
      kind,
      '--work',
      work,
      '--from',
      from,
      '--to',
      to,
      '--language',
      values.language,
    ],
    { encoding: 'utf8', maxBuffer: 16 * MB, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

/**
 * RSS also holds garbage V8 has not collected yet (it grows its heap before it collects), so RSS alone
 * cannot tell a streaming export from one that keeps rows. This can: the whole-period export run again
 * with V8's old space capped; one that kept its rows would die of heap exhaustion.
 */
function fitsHeap(kind: string, work: string, from: string, to: string): boolean {
  try {
    runChild(kind, work, from, to, [`--max-old-space-size=${HEAP_CAP_MB}`]);
    return true;
  } catch {
    return false;
  }
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1] };
}

async function main() {
  const { describeMachine } = await import('./common');
  const m = describeMachine();
  const machine = `${m.cpu}, ${m.cpus} logical CPUs, ${m.memoryGiB} GiB, ${m.platform} ${m.arch}; load average at start ${m.loadavg.join(' / ')}`;
  console.error(`machine: ${machine}`);
  const work = values.work;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  console.error(`building a database of ${values.inspections} inspections in ${work}...`);
  const db = await build(work);
  const dbMB = statSync(join(work, 'station.db')).size / MB;
  console.error(
    `built: ${db.flagged} flagged, ${db.decisions} decisions (${db.corrections} corrections); inserts ${db.insertSeconds.toFixed(1)} s; ${dbMB.toFixed(0)} MB`,
  );

  const reps = Number(values.reps);
  const from = new Date(START).toISOString();
  const to = new Date(START + db.days * DAY).toISOString();
  const shortTo = new Date(START + 3 * DAY).toISOString();
  const cases = [
    { kind: 'read', label: `reference: read the rows only, ${db.days} days`, to },
    { kind: 'csv', label: `CSV, ${db.days} days`, to },
    { kind: 'pdf', label: `PDF, ${db.days} days`, to },
    { kind: 'csv', label: 'CSV, 3 days', to: shortTo },
    { kind: 'pdf', label: 'PDF, 3 days', to: shortTo },
  ];
  const results: ((typeof cases)[number] & { runs: ChildResult[] })[] = [];
  for (const c of cases) {
    const runs: ChildResult[] = [];
    for (let r = 0; r < reps; r++) {
      const res = runChild(c.kind, work, from, c.to);
      console.error(
        `${c.label} rep ${r + 1}/${reps}: ${res.seconds.toFixed(2)} s, peak RSS ${res.peakRssMB.toFixed(0)} MB (ru_maxrss ${res.maxRssMB.toFixed(0)} MB)`,
      );
      runs.push(res);
    }
    results.push({ ...c, runs });
  }
  const heapCheck = { csv: fitsHeap('csv', work, from, to), pdf: fitsHeap('pdf', work, from, to) };
  console.error(
    `with a ${HEAP_CAP_MB} MB heap cap: CSV ${heapCheck.csv ? 'ok' : 'FAILED'}, PDF ${heapCheck.pdf ? 'ok' : 'FAILED'}`,
  );
  if (!values.keep) rmSync(work, { recursive: true, force: true });

  const fmtS = (xs: number[]) => {
    const s = stats(xs);
    return `${s.median.toFixed(2)} s (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
  };
  const rowsOf = (r: (typeof results)[number]) => {
    const first = r.runs[0];
    if (r.kind === 'read') return `${first.rows!.toLocaleString('en-US')} rows read, nothing written`;
    return r.kind === 'csv'
      ? `${first.rows!.toLocaleString('en-US')} rows, ${(first.bytes / MB).toFixed(1)} MB`
      : `${first.pages!.toLocaleString('en-US')} pages, ${(first.bytes / MB).toFixed(1)} MB`;
  };
  const readMedian = stats(results.find((r) => r.kind === 'read')!.runs.map((x) => x.seconds)).median;
  const table = results
    .map(
      (r) =>
        `| ${r.label} | ${rowsOf(r)} | ${fmtS(r.runs.map((x) => x.seconds))} | ` +
        // Only against the reference of the same period.
        `${r.to === to ? `${(stats(r.runs.map((x) => x.seconds)).median / readMedian).toFixed(2)}×` : '—'} | ` +
        `${Math.max(...r.runs.map((x) => x.peakRssMB)).toFixed(0)} MB | ` +
        `${Math.max(...r.runs.map((x) => x.maxRssMB)).toFixed(0)} MB | ` +
        `${stats(r.runs.map((x) => x.baseRssMB)).median.toFixed(0)} MB |`,
    )
    .join('\n');
  const args = process.argv.slice(2).join(' ');
  const md = `# Report benchmark

${machine}. No ML backend is involved (SQLite, csv-stringify, pdfkit, sharp).
Command: \`npm run bench:report${args ? ` -- ${args}` : ''}\`

Database: ${db.total.toLocaleString('en-US')} inspections over ${db.days} days on ${db.lineCount} lines (${dbMB.toFixed(0)} MB),
${db.flagged.toLocaleString('en-US')} flagged (${((db.flagged / db.total) * 100).toFixed(1)}%), ${db.decisions.toLocaleString('en-US')} decisions of which ${db.corrections} corrections;
${values.images} distinct thumbnail (128 px gray) + heatmap (64 px RGBA) pairs in the artifact store, shared by
content address across the flagged rows.

Each export is one fresh child process per rep (${reps} reps): time = summary (one GROUP BY, model history,
audit-chain verification) + writing the file; median (min–max). The reference, run the same way in the same
run, computes the same summary and reads every row of the period through the same streaming query without
writing anything: the floor any export of the period pays.

| export | output | time | × the reference (same period) | peak RSS, highest rep (50 ms samples) | peak RSS, highest rep (ru_maxrss) | RSS before the export (median) |
|---|---|---|---|---|---|---|
${table}

The PDF lists every flagged image (thumbnail and heatmap shrunk to 96 px, each distinct PNG embedded
once), so its size and time follow the flagged count; the CSV follows the inspection count.

RSS includes garbage V8 has not collected yet: it lets the heap grow before collecting, so a longer export
shows a higher peak even when it keeps nothing. What the exports really hold: the ${db.days}-day exports run again
with V8's old space capped at ${HEAP_CAP_MB} MB (\`--max-old-space-size=${HEAP_CAP_MB}\`; an export that kept its
${db.total.toLocaleString('en-US')} rows or its ${db.flagged.toLocaleString('en-US')} flagged rows' pages would die of heap exhaustion):
CSV ${heapCheck.csv ? 'completes' : 'FAILS'}, PDF ${heapCheck.pdf ? 'completes' : 'FAILS'}.
`;
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'report.md'), md);
  writeFileSync(
    join(values.out, 'report.json'),
    JSON.stringify(
      { machine, database: db, results, heapCapMB: HEAP_CAP_MB, fitsHeapCap: heapCheck },
      null,
      2,
    ),
  );
  console.log(md);
}

if (values.child) {
  await child(values.child, values.work, values.from!, values.to!);
} else {
  await main();
}
