// The report's PDF, drawn with pdfkit and streamed to the file: title page, summary (overall, per line,
// per day, with bar charts drawn from vector primitives), the models in force and their activations, the
// audit-chain result, then every flagged image of the period with its thumbnail and heatmap. The flagged
// rows are read from the database in chunks and the output drains between chunks, so a long period costs
// pages, not memory: the flagged table's rows have a fixed height, so the page count n is known when the
// table starts, and from there each page is stamped "Page i of n" and written out as soon as it is full
// (pdfkit's bufferPages, flushed by hand; a buffered page costs hundreds of KB of small chunks).
// Text is set in DejaVu Sans (and DejaVu Sans Mono for hashes), embedded and subset by pdfkit, so names in
// any European alphabet, Greek or Cyrillic print as they are; what DejaVu has no glyph for (CJK, for one)
// prints as "?" and the report says how many texts that happened to.
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { finished } from 'node:stream/promises';
import PDFDocument from 'pdfkit';
import sharp from 'sharp';
import type { ArtifactStore } from '../station/artifacts';
import type { InspectionWithDecision, StationDatabase } from '../station/database';
import {
  decisionVerified,
  reportRows,
  rowNames,
  type ReportCounts,
  type ReportSummary,
  type RowNames,
} from './report-data';
import { localDate, localDateTime, localDays } from './local-days';
import { lineageSentence } from '../../common/lineage';

type Doc = PDFKit.PDFDocument;

const MARGIN = { top: 48, bottom: 56, left: 42, right: 42 };
const COLOR = {
  text: '#1d1d1d',
  muted: '#666666',
  rule: '#bdbdbd',
  grid: '#e3e3e3',
  zebra: '#f4f4f4',
  header: '#e6e9ee',
  pass: '#4a9f57',
  flag: '#e8890c',
  error: '#9e9e9e',
  defect: '#c62828',
  falseAlarm: '#1e78c8',
  unreviewed: '#f3c200',
  ok: '#2e7d32',
  broken: '#c62828',
};
/** pdfkit names for the embedded fonts (registered on each document by `registerFonts`). */
const FONT = { regular: 'DejaVuSans', bold: 'DejaVuSans-Bold', mono: 'DejaVuSansMono' };
/** The font files, from the dejavu-fonts-ttf package (a dependency: external in the bundled main too). */
const FONT_FILES: Record<keyof typeof FONT, string> = {
  regular: 'dejavu-fonts-ttf/ttf/DejaVuSans.ttf',
  bold: 'dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf',
  mono: 'dejavu-fonts-ttf/ttf/DejaVuSansMono.ttf',
};
/** Flagged rows drawn between two waits for the file to catch up (and images loaded at once). */
const FLAGGED_CHUNK = 64;
/** Largest side of the thumbnails and heatmaps embedded in the PDF, in pixels (about 2x their printed size). */
const IMAGE_PX = 96;
/** More days than this and the chart's bars cover several days each, so bars stay wide enough to read. */
const MAX_BARS = 92;

export const NO_INSPECTIONS = 'No inspections in this period';

/** Text that needs no glyph check: printable ASCII (every font has it) and line breaks. */
const PLAIN = /^[\n\x20-\x7e]*$/;
/** Control characters (line breaks apart): never drawn, whatever a font maps them to. */
const CONTROL = /[^\P{Cc}\n]/u;

let fontData: Record<keyof typeof FONT, Buffer> | undefined;

/** The fonts on this document, read once per process (about 1.8 MB; pdfkit embeds only the glyphs used). */
function registerFonts(doc: Doc): void {
  if (!fontData) {
    const require = createRequire(import.meta.url);
    const read = (f: string) => readFileSync(require.resolve(f));
    fontData = {
      regular: read(FONT_FILES.regular),
      bold: read(FONT_FILES.bold),
      mono: read(FONT_FILES.mono),
    };
  }
  for (const k of Object.keys(FONT) as (keyof typeof FONT)[]) doc.registerFont(FONT[k], fontData[k]);
}

/** The fontkit font behind pdfkit's current font (pdfkit internals, untyped: checked rather than trusted). */
interface GlyphFont {
  postscriptName: string;
  hasGlyphForCodePoint(cp: number): boolean;
}
function currentFont(doc: Doc): GlyphFont {
  const font = (doc as unknown as { _font?: { font?: Partial<GlyphFont> } })._font?.font;
  if (typeof font?.hasGlyphForCodePoint !== 'function' || typeof font.postscriptName !== 'string')
    throw new Error('report: pdfkit no longer exposes its embedded font (doc._font.font)');
  return font as GlyphFont;
}

/**
 * Forget the text layouts pdfkit keeps for each embedded font: it caches every distinct word it ever
 * measured or drew (timestamps, ids, paths: new ones on every row) for the life of the document, which for
 * a long period is memory without bound. Cleared at each page, the cache still serves the repeated words.
 * (Internals again; if pdfkit renames them this does nothing, and the benchmark's heap cap catches it.)
 */
function clearLayoutCaches(doc: Doc): void {
  const fonts = (doc as unknown as { _fontFamilies?: Record<string, { layoutCache?: object }> })
    ._fontFamilies;
  for (const font of Object.values(fonts ?? {}))
    if (font.layoutCache) font.layoutCache = Object.create(null) as object;
}

const int = (n: number): string => n.toLocaleString('en-US');
const pct = (r: number | null): string => (r === null ? '–' : `${(r * 100).toFixed(2)}%`);
const num = (v: number | null, digits = 5): string => (v === null ? '–' : v.toPrecision(digits));
const decisionLabel = (d: string | null | undefined): string =>
  d === 'defect' ? 'Defect' : d === 'false_alarm' ? 'False alarm' : 'Unreviewed';

/** A label / value row of `Layout.pairs`. */
type Pair = [label: string, value: string, style?: { mono?: boolean; color?: string; bold?: boolean }];

interface Column {
  header: string;
  /** Share of the content width. */
  width: number;
  align?: 'left' | 'right';
}

/** The page cursor and the few layout primitives the report is made of. */
class Layout {
  y: number;
  /**
   * The page count, once it is known (at the start of the flagged table, whose length is planned ahead).
   * From then on each page gets its footer and is written out when the next one starts.
   */
  pageTotal: number | null = null;

  constructor(
    readonly doc: Doc,
    private readonly footer: (l: Layout, index: number, total: number) => void,
  ) {
    this.y = MARGIN.top;
  }

  /** Texts that had characters the report font cannot draw (replaced by "?"; the CSV has them exactly). */
  replacedTexts = 0;
  /** Per font (PostScript name): whether it draws a code point, for the code points met so far. */
  private readonly glyphs = new Map<string, Map<number, boolean>>();

  /** 0-based index of the page being drawn. */
  get pageIndex(): number {
    const r = this.doc.bufferedPageRange();
    return r.start + r.count - 1;
  }

  get left(): number {
    return MARGIN.left;
  }

  get width(): number {
    return this.doc.page.width - MARGIN.left - MARGIN.right;
  }

  get bottom(): number {
    return this.doc.page.height - MARGIN.bottom;
  }

  newPage(): void {
    clearLayoutCaches(this.doc);
    if (this.pageTotal !== null) {
      this.footer(this, this.pageIndex, this.pageTotal);
      this.doc.flushPages();
    }
    this.doc.addPage();
    this.y = MARGIN.top;
  }

  /** The total is known: footers on the pages drawn so far (still buffered), the current one included later. */
  setPageTotal(total: number): void {
    this.pageTotal = total;
    const current = this.pageIndex;
    const { start } = this.doc.bufferedPageRange();
    for (let i = start; i < current; i++) {
      this.doc.switchToPage(i);
      this.footer(this, i, total);
    }
    this.doc.switchToPage(current);
  }

  /** The last page's footer; checks that the plan came out right. */
  finish(): void {
    if (this.pageTotal === null || this.pageIndex + 1 !== this.pageTotal)
      throw new Error(`report layout: planned ${this.pageTotal} pages, drew ${this.pageIndex + 1}`);
    this.footer(this, this.pageIndex, this.pageTotal);
  }

  /** Start a new page unless `height` still fits on this one. */
  ensure(height: number): void {
    if (this.y + height > this.bottom) this.newPage();
  }

  /**
   * Text as the current font can draw it: a character it has no glyph for (DejaVu covers the European
   * alphabets, Greek, Cyrillic and more, but not CJK) would print as an empty box, so it becomes a visible
   * "?", as do control characters. Set the font that will draw the text before calling this.
   */
  safe(text: string): string {
    if (PLAIN.test(text)) return text;
    const font = currentFont(this.doc);
    let known = this.glyphs.get(font.postscriptName);
    if (!known) this.glyphs.set(font.postscriptName, (known = new Map()));
    let out = '';
    let replaced = false;
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      let ok = known.get(cp);
      if (ok === undefined) {
        ok = cp === 0x0a || (!CONTROL.test(ch) && font.hasGlyphForCodePoint(cp));
        known.set(cp, ok);
      }
      if (ok) out += ch;
      else {
        out += '?';
        replaced = true;
      }
    }
    if (replaced) this.replacedTexts++;
    return out;
  }

  font(name: string, size: number, color = COLOR.text): Doc {
    return this.doc.font(name).fontSize(size).fillColor(color);
  }

  /** `text` cut with an ellipsis to fit `width` at the current font; `fromStart` keeps the end (paths). */
  fit(text: string, width: number, fromStart = false): string {
    const flat = this.safe(text.replace(/\s*[\r\n]+\s*/g, ' '));
    if (this.doc.widthOfString(flat) <= width) return flat;
    // Cut between code points, never inside a surrogate pair.
    const chars = [...flat];
    const cut = (n: number) =>
      fromStart ? `…${chars.slice(chars.length - n).join('')}` : `${chars.slice(0, n).join('')}…`;
    let lo = 0;
    let hi = chars.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.doc.widthOfString(cut(mid)) <= width) lo = mid;
      else hi = mid - 1;
    }
    return cut(lo);
  }

  /**
   * One line of text at an exact spot, cut to `width`. No pdfkit wrapping: it never starts a page on its own.
   */
  cell(
    text: string,
    x: number,
    y: number,
    width: number,
    align: 'left' | 'right' = 'left',
    fromStart = false,
  ) {
    const s = this.fit(text, width, fromStart);
    const dx = align === 'right' ? width - this.doc.widthOfString(s) : 0;
    this.doc.text(s, x + dx, y, { lineBreak: false });
  }

  /** Wrapped text clipped to a box (ellipsis when it does not fit); returns the height used. */
  box(text: string, x: number, y: number, width: number, maxHeight: number): number {
    const safe = this.safe(text.replace(/\r\n?/g, '\n'));
    const h = Math.min(maxHeight, this.doc.heightOfString(safe, { width }));
    this.doc.text(safe, x, y, { width, height: maxHeight, ellipsis: true });
    return h;
  }

  heading(text: string): void {
    this.ensure(60);
    this.font(FONT.bold, 15);
    this.cell(text, this.left, this.y, this.width);
    this.y += 20;
    this.doc
      .moveTo(this.left, this.y)
      .lineTo(this.left + this.width, this.y)
      .lineWidth(0.8)
      .strokeColor(COLOR.rule)
      .stroke();
    this.y += 10;
  }

  subheading(text: string): void {
    this.ensure(40);
    this.font(FONT.bold, 10.5).text(text, this.left, this.y, { lineBreak: false });
    this.y += 16;
  }

  /** A wrapped paragraph across the content width (short ones: it is kept on one page). */
  paragraph(raw: string, size = 8.5, color = COLOR.muted): void {
    this.font(FONT.regular, size, color);
    const text = this.safe(raw);
    const h = this.doc.heightOfString(text, { width: this.width });
    this.ensure(h + 4);
    this.doc.text(text, this.left, this.y, { width: this.width });
    this.y += h + 6;
  }

  /** Label / value rows; a value may wrap. */
  pairs(rows: Pair[], labelWidth = 110): void {
    for (const [label, raw, o] of rows) {
      const valueWidth = this.width - labelWidth;
      const valueFont = () =>
        this.font(o?.mono ? FONT.mono : o?.bold ? FONT.bold : FONT.regular, o?.mono ? 8.5 : 10, o?.color);
      valueFont();
      const value = this.safe(raw);
      const h = Math.max(14, this.doc.heightOfString(value, { width: valueWidth }) + 3);
      this.ensure(h);
      this.font(FONT.bold, 10, COLOR.muted).text(label, this.left, this.y, { lineBreak: false });
      valueFont();
      this.doc.text(value, this.left + labelWidth, this.y + (o?.mono ? 1 : 0), { width: valueWidth });
      this.y += h;
    }
    this.y += 6;
  }

  /** A table that continues on the next page with its header repeated. */
  table(columns: Column[], rows: string[][], opts: { boldRows?: Set<number>; size?: number } = {}): void {
    const size = opts.size ?? 7.5;
    const rowH = size + 6;
    const total = columns.reduce((a, c) => a + c.width, 0);
    const widths = columns.map((c) => (c.width / total) * this.width);
    const headerH = 2 * (size + 1) + 8;
    const header = () => {
      this.ensure(headerH + rowH);
      this.doc.rect(this.left, this.y, this.width, headerH).fill(COLOR.header);
      let x = this.left;
      columns.forEach((c, i) => {
        const w = widths[i] - 6;
        // Headers wrap between words only: a word wider than its column is set smaller, never broken.
        const headerSize = size - 0.5;
        this.font(FONT.bold, headerSize);
        const widest = Math.max(...c.header.split(/\s+/).map((word) => this.doc.widthOfString(word)));
        if (widest > w) this.font(FONT.bold, Math.max(5, (headerSize * w) / widest));
        const h = this.doc.heightOfString(c.header, { width: w });
        this.doc.text(c.header, x + 3, this.y + headerH - h - 3, {
          width: w,
          height: headerH,
          align: c.align ?? 'left',
        });
        x += widths[i];
      });
      this.y += headerH;
    };
    header();
    rows.forEach((row, r) => {
      if (this.y + rowH > this.bottom) {
        this.newPage();
        header();
      }
      if (r % 2 === 1) this.doc.rect(this.left, this.y, this.width, rowH).fill(COLOR.zebra);
      let x = this.left;
      row.forEach((value, i) => {
        const c = columns[i];
        this.font(opts.boldRows?.has(r) ? FONT.bold : FONT.regular, size);
        this.cell(value, x + 3, this.y + 3.5, widths[i] - 6, c.align);
        x += widths[i];
      });
      this.y += rowH;
    });
    this.y += 10;
  }
}

// ---------------------------------------------------------------------------------------------- charts

interface Series {
  name: string;
  color: string;
}

interface Bar {
  label: string;
  values: number[];
}

/** 1, 2 or 5 times a power of ten: the step of about `ticks` gridlines up to `max`. */
function niceStep(max: number, ticks: number): number {
  const raw = Math.max(max / ticks, 1);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const m = raw / pow;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * pow;
}

/** Stacked bars with a y axis, gridlines, date labels and a legend. */
function stackedBars(l: Layout, title: string, series: Series[], bars: Bar[], height = 150): void {
  const { doc } = l;
  l.ensure(height + 10);
  const top = l.y;
  l.font(FONT.bold, 9).text(title, l.left, top, { lineBreak: false });
  // Legend, right-aligned on the title's line.
  l.font(FONT.regular, 7.5);
  let lx = l.left + l.width;
  for (const s of [...series].reverse()) {
    lx -= doc.widthOfString(s.name) + 4;
    doc.text(s.name, lx, top + 1, { lineBreak: false });
    lx -= 10;
    doc.rect(lx, top + 1.5, 7, 7).fill(s.color);
    doc.fillColor(COLOR.text);
    lx -= 10;
  }
  const maxTotal = Math.max(0, ...bars.map((b) => b.values.reduce((a, v) => a + v, 0)));
  const step = niceStep(maxTotal, 4);
  const yMax = Math.max(step, Math.ceil(maxTotal / step) * step);
  l.font(FONT.regular, 6.5, COLOR.muted);
  // Wide enough for the largest axis label.
  const axisW = Math.max(36, doc.widthOfString(int(yMax)) + 8);
  const x0 = l.left + axisW;
  const plotW = l.width - axisW;
  const plotTop = top + 18;
  const plotH = height - 18 - 16;
  const base = plotTop + plotH;
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    const y = base - (v / yMax) * plotH;
    doc
      .moveTo(x0, y)
      .lineTo(x0 + plotW, y)
      .lineWidth(0.4)
      .strokeColor(COLOR.grid)
      .stroke();
    l.cell(int(v), l.left, y - 2.5, axisW - 4, 'right');
  }
  const slot = plotW / Math.max(1, bars.length);
  const barW = Math.max(0.5, slot * (bars.length > 40 ? 0.85 : 0.65));
  bars.forEach((b, i) => {
    let acc = 0;
    const x = x0 + i * slot + (slot - barW) / 2;
    b.values.forEach((v, k) => {
      if (v <= 0) return;
      const h = (v / yMax) * plotH;
      doc.rect(x, base - acc - h, barW, h).fill(series[k].color);
      acc += h;
    });
  });
  doc
    .moveTo(x0, base)
    .lineTo(x0 + plotW, base)
    .lineWidth(0.8)
    .strokeColor(COLOR.muted)
    .stroke();
  // Date labels: as many as fit without touching, centred on their bar, kept inside the plot.
  l.font(FONT.regular, 6.5, COLOR.muted);
  const labelW = doc.widthOfString('0000-00-00') + 8;
  const every = Math.max(1, Math.ceil((bars.length * labelW) / plotW));
  for (let i = 0; i < bars.length; i += every) {
    const w = doc.widthOfString(bars[i].label);
    const cx = x0 + (i + 0.5) * slot;
    const x = Math.min(Math.max(cx - w / 2, x0), x0 + plotW - w);
    doc.text(bars[i].label, x, base + 4, { lineBreak: false });
  }
  l.y = top + height + 8;
}

/** Every local day of the period (in the report's time zone), grouped into at most MAX_BARS bars of `days` days each. */
function dayBuckets(s: ReportSummary): { days: number; buckets: { label: string; keys: string[] }[] } {
  const all = localDays(Date.parse(s.period.from), Date.parse(s.period.to), s.timeZone).map((d) => d.day);
  const per = Math.max(1, Math.ceil(all.length / MAX_BARS));
  const buckets: { label: string; keys: string[] }[] = [];
  for (let i = 0; i < all.length; i += per) {
    const keys = all.slice(i, i + per);
    buckets.push({ label: keys[0], keys });
  }
  return { days: per, buckets };
}

// ----------------------------------------------------------------------------------------------- pages

// Column widths in points of the A4 content width (511): at the tables' 7.5 pt, the counts fit up to
// 9,999,999 in bold (the "All lines" row), and every header word fits its column without breaking.
const COUNT_COLUMNS: Column[] = [
  { header: 'Inspected', width: 49, align: 'right' },
  { header: 'Passed', width: 49, align: 'right' },
  { header: 'Flagged', width: 45, align: 'right' },
  { header: 'Confirmed defects', width: 47, align: 'right' },
  { header: 'False alarms', width: 42, align: 'right' },
  { header: 'Unreviewed', width: 53, align: 'right' },
  { header: 'Errors', width: 40, align: 'right' },
  { header: 'Flag rate', width: 44, align: 'right' },
  { header: 'Yield', width: 44, align: 'right' },
];
/** The first column of the count tables: what is left of the content width. */
const COUNT_LABEL_WIDTH = 98;

function countCells(c: ReportCounts): string[] {
  return [
    int(c.inspected),
    int(c.passed),
    int(c.flagged),
    int(c.confirmedDefects),
    int(c.falseAlarms),
    int(c.unreviewed),
    int(c.errors),
    pct(c.flagRate),
    pct(c.yield),
  ];
}

/** The period in the report's local time (its days are those days), then the same instants in UTC. */
function periodText(s: ReportSummary): string {
  const [from, to] = [Date.parse(s.period.from), Date.parse(s.period.to)];
  return (
    `${localDateTime(from, s.timeZone)} to ${localDateTime(to, s.timeZone)} local time (${s.timeZoneLabel}), ` +
    `end exclusive; ${s.period.from} to ${s.period.to} UTC`
  );
}

/** "2026-11-23 to 2026-11-29": the local days the period covers, last one included. */
function periodDays(s: ReportSummary): string {
  const [from, to] = [Date.parse(s.period.from), Date.parse(s.period.to)];
  return `${localDate(from, s.timeZone)} to ${localDate(to - 1, s.timeZone)}`;
}

function auditLine(s: ReportSummary): string {
  const a = s.audit;
  return a.ok
    ? `OK: ${int(a.count)} decisions verified`
    : `BROKEN at decision #${a.firstBadId} (${int(a.count)} decisions verified before it)`;
}

function titlePage(l: Layout, s: ReportSummary): void {
  const { doc } = l;
  l.y = 120;
  l.font(FONT.regular, 12, COLOR.muted).text('Anomaly Station', l.left, l.y, { lineBreak: false });
  l.y += 18;
  l.font(FONT.bold, 28).text('Inspection audit report', l.left, l.y, { lineBreak: false });
  l.y += 38;
  l.font(FONT.regular, 15);
  doc.text(l.safe(s.stationName), l.left, l.y, { width: l.width });
  l.y += 34;
  const lines = s.lineFilter
    ? `${s.lineFilter.name} (report restricted to this line)`
    : s.lines.map((x) => x.name).join(', ') || 'none';
  const o = s.overall;
  l.pairs([
    ['Station', s.stationName],
    ['Lines', lines],
    ['Period', periodText(s)],
    [
      'Lot / batch',
      s.lot
        ? `${s.lot}  (a label given when the report was generated: the station does not record lots per inspection)`
        : '–',
    ],
    ['Generated', `${s.generatedAt} by ${s.generatedBy}`],
    [
      'Inspections',
      o.inspected
        ? `${int(o.inspected)} inspected, ${int(o.flagged)} flagged, ${int(o.confirmedDefects)} confirmed defects, ` +
          `${int(o.falseAlarms)} false alarms, ${int(o.unreviewed)} unreviewed, ${int(o.errors)} errors`
        : NO_INSPECTIONS,
    ],
    ['Audit chain', auditLine(s), { bold: true, color: s.audit.ok ? COLOR.ok : COLOR.broken }],
    // On a line of its own, in the mono font: 64 hex digits do not fit the value column in bold.
    ...(s.audit.ok
      ? ([['Head hash', s.audit.headHash ?? '(no decisions yet)', { mono: true }]] as Pair[])
      : []),
  ]);
  if (!o.inspected) {
    l.y += 10;
    doc.rect(l.left, l.y, l.width, 40).lineWidth(1).strokeColor(COLOR.rule).stroke();
    l.font(FONT.bold, 14).text(NO_INSPECTIONS, l.left, l.y + 13, { width: l.width, align: 'center' });
    l.y += 50;
  }
  if (!s.audit.ok) {
    l.y += 10;
    doc.rect(l.left, l.y, l.width, 40).fill(COLOR.broken);
    l.font(FONT.bold, 14, '#ffffff').text(
      `AUDIT CHAIN BROKEN at decision #${s.audit.firstBadId}`,
      l.left,
      l.y + 13,
      { width: l.width, align: 'center' },
    );
    l.y += 50;
  }
}

function summaryPages(l: Layout, s: ReportSummary): void {
  l.newPage();
  l.heading('Summary');
  const o = s.overall;
  if (!o.inspected) l.paragraph(`${NO_INSPECTIONS}.`, 11, COLOR.text);
  l.subheading('Overall and per line');
  const rows = [
    ['All lines', ...countCells(o)],
    ...s.lines.map((x) => [`${x.name}${x.removedAt ? ' (removed)' : ''}`, ...countCells(x.counts)]),
  ];
  l.table([{ header: 'Line', width: COUNT_LABEL_WIDTH }, ...COUNT_COLUMNS], rows, { boldRows: new Set([0]) });
  l.paragraph(
    'Inspected: images scored in the period (by scoring time). Confirmed defects and false alarms: the latest ' +
      'operator decision on an image (as of the time the report was generated; corrections replace earlier ' +
      `decisions)${o.missedDefects ? `; ${int(o.missedDefects)} of the confirmed defects were passed by the model` : ''}. ` +
      'Unreviewed: flagged images without a decision. Errors: images that could not be scored. ' +
      'Flag rate: flagged / (inspected - errors). Yield: images known good (passed and not later marked defect, ' +
      'or flagged and cleared as a false alarm) / (inspected - errors); unreviewed flags are not counted as good.',
  );

  l.subheading(`Per day (local days, ${s.timeZoneLabel})`);
  if (!o.inspected) {
    l.paragraph(`${NO_INSPECTIONS}: no chart.`);
  } else {
    const { days, buckets } = dayBuckets(s);
    const byDay = new Map(s.days.map((d) => [d.day, d.counts]));
    const sum = (keys: string[], pick: (c: ReportCounts) => number) =>
      keys.reduce((a, k) => a + (byDay.has(k) ? pick(byDay.get(k)!) : 0), 0);
    const unit = days === 1 ? 'per day' : `per ${days} days (bar labelled with its first day)`;
    stackedBars(
      l,
      `Inspections ${unit}`,
      [
        { name: 'Passed', color: COLOR.pass },
        { name: 'Flagged', color: COLOR.flag },
        { name: 'Errors', color: COLOR.error },
      ],
      buckets.map((b) => ({
        label: b.label,
        values: [sum(b.keys, (c) => c.passed), sum(b.keys, (c) => c.flagged), sum(b.keys, (c) => c.errors)],
      })),
    );
    stackedBars(
      l,
      `Flagged images ${unit}, by latest decision`,
      [
        { name: 'Confirmed defect', color: COLOR.defect },
        { name: 'False alarm', color: COLOR.falseAlarm },
        { name: 'Unreviewed', color: COLOR.unreviewed },
      ],
      buckets.map((b) => ({
        label: b.label,
        values: [
          sum(b.keys, (c) => c.flaggedConfirmed),
          sum(b.keys, (c) => c.flaggedCleared),
          sum(b.keys, (c) => c.unreviewed),
        ],
      })),
      130,
    );
    l.table(
      [{ header: 'Day', width: COUNT_LABEL_WIDTH }, ...COUNT_COLUMNS],
      s.days.map((d) => [d.day, ...countCells(d.counts)]),
    );
  }
}

function modelsSection(l: Layout, s: ReportSummary): void {
  l.newPage();
  l.heading('Models in force');
  if (!s.models.length) l.paragraph('No model judged images on these lines in this period.');
  for (const m of s.models) {
    l.ensure(80);
    l.font(FONT.bold, 10);
    l.cell(m.name, l.left, l.y, l.width);
    l.y += 14;
    l.pairs(
      [
        ['Method / version', `${m.method}, version ${m.version} (model #${m.id})`],
        ['Training data hash', m.trainingDataHash ?? '–', { mono: true }],
        ['Calibrated threshold', `${num(m.threshold)} (raw score; calibrated ${m.calibratedAt ?? 'never'})`],
        ['Thresholds applied', appliedText(m)],
        ['In this period', `${int(m.inspected)} images judged`],
        ...(m.lineage
          ? ([['Lineage', `${lineageSentence(m.lineage)} (lineage record #${m.lineage.recordId})`]] as Pair[])
          : []),
      ],
      130,
    );
  }
  l.subheading('Activations on each line');
  if (!s.activations.length) {
    l.paragraph('No model was assigned to these lines during the period.');
    return;
  }
  l.table(
    [
      { header: 'Line', width: 108 },
      { header: 'Activated at (UTC)', width: 110 },
      { header: 'Model', width: 143 },
      { header: 'Threshold override', width: 45, align: 'right' },
      { header: 'Threshold in force', width: 45, align: 'right' },
      { header: 'When', width: 60 },
    ],
    s.activations.map((a) => [
      a.lineName,
      a.activatedAt,
      a.modelId === null ? 'none' : `${a.modelName ?? `#${a.modelId}`} ${a.modelVersion ?? ''}`.trim(),
      num(a.thresholdOverride),
      num(a.thresholdInForce),
      a.inForceAtStart ? 'at period start' : 'during period',
    ]),
  );
}

/** The thresholds a model's images were judged by in the period, per line, as the inspection rows say. */
function appliedText(m: ReportSummary['models'][number]): string {
  if (!m.applied.length) return 'none (no image judged in the period)';
  return m.applied
    .map(
      (a) =>
        `${num(a.threshold)} on ${a.lineName} (${int(a.inspected)} images` +
        `${a.threshold !== null && a.threshold === m.threshold ? ', the calibrated value' : ''})`,
    )
    .join('; ');
}

/** The model lineage's chain (children made from feedback and their images), verified with the decisions. */
function lineagePair(s: ReportSummary): Pair {
  const a = s.lineageAudit;
  return a.ok
    ? ['Model lineage', `OK: ${int(a.count)} records, head ${a.headHash ?? '(none yet)'}`]
    : [
        'Model lineage',
        `BROKEN at record #${a.firstBadId}: ${a.reason ?? ''}`,
        { bold: true, color: COLOR.broken },
      ];
}

function auditSection(l: Layout, s: ReportSummary): void {
  l.ensure(200);
  l.heading('Audit chain of decisions');
  const a = s.audit;
  l.font(FONT.bold, 16, a.ok ? COLOR.ok : COLOR.broken).text(a.ok ? 'OK' : 'BROKEN', l.left, l.y, {
    lineBreak: false,
  });
  l.y += 24;
  l.pairs(
    [
      ['Decisions verified', int(a.count)],
      [a.ok ? 'Head hash' : 'Last verified hash', a.headHash ?? '(no decisions yet)', { mono: true }],
      ...(a.ok
        ? []
        : ([
            ['First bad row', `decision #${a.firstBadId}`, { bold: true, color: COLOR.broken }],
            ['Reason', a.reason ?? ''],
          ] as Pair[])),
      lineagePair(s),
    ],
    120,
  );
  l.paragraph(
    'Every decision stores the hash of the one before it, so editing, deleting or reordering a decision breaks ' +
      'the chain at that row. Two changes a chain cannot show by itself, a deleted tail and a chain rewritten ' +
      'end to end, show when the head hash and count above no longer extend those printed in the previous audit ' +
      'report: keep them.' +
      (a.ok
        ? ''
        : ` Decisions from #${a.firstBadId} on are not covered by a verified chain: they are marked ` +
          '"unverified" in the flagged images below and in the CSV (decision_in_verified_chain = no).'),
  );
}

// -------------------------------------------------------------------------------------- flagged images

type EmbeddedImage = object;
const MAX_CACHED_IMAGES = 4000;

/** Loads artifacts shrunk for print, each embedded once however many rows show it (keys are content hashes). */
class ImageCache {
  private readonly images = new Map<string, EmbeddedImage | null>();
  missing = 0;

  constructor(
    private readonly doc: Doc,
    private readonly artifacts: ArtifactStore,
  ) {}

  async load(keys: (string | null)[]): Promise<void> {
    // Bounded: past this many distinct images a repeat is embedded again rather than remembered.
    if (this.images.size > MAX_CACHED_IMAGES) this.images.clear();
    const todo = [...new Set(keys.filter((k): k is string => k !== null && !this.images.has(k)))];
    await Promise.all(
      todo.map(async (key) => {
        try {
          const png = await sharp(this.artifacts.pathOf(key))
            .resize(IMAGE_PX, IMAGE_PX, { fit: 'inside', withoutEnlargement: true })
            .flatten({ background: '#ffffff' }) // no alpha: pdfkit would split it into a soft mask
            .png({ compressionLevel: 6 })
            .toBuffer();
          // openImage is pdfkit's own (untyped) step before embedding; holding its result makes doc.image
          // reuse one embedded image instead of embedding the same bytes again.
          this.images.set(
            key,
            (this.doc as unknown as { openImage(b: Buffer): EmbeddedImage }).openImage(png),
          );
        } catch {
          this.images.set(key, null);
        }
      }),
    );
  }

  draw(l: Layout, key: string | null, x: number, y: number, size: number): void {
    const img = key === null ? null : this.images.get(key);
    if (img) {
      l.doc.image(img as Buffer, x, y, { fit: [size, size], align: 'center', valign: 'center' });
      return;
    }
    if (key !== null) this.missing++;
    l.doc.rect(x, y, size, size).lineWidth(0.5).strokeColor(COLOR.rule).stroke();
    l.font(FONT.regular, 6, COLOR.muted).text(key === null ? 'none' : 'missing', x, y + size / 2 - 3, {
      width: size,
      align: 'center',
      lineBreak: false,
    });
  }
}

/** In points of the content width: a full timestamp fits the Inspection and Decision columns at 7 pt. */
const FLAGGED_COLUMNS = [
  { header: 'Inspection', width: 139 },
  { header: 'Thumbnail', width: 52 },
  { header: 'Heatmap', width: 52 },
  { header: 'Score', width: 78 },
  { header: 'Decision', width: 108 },
  { header: 'Comment', width: 82 },
];
const FLAGGED_ROW_H = 56;
const FLAGGED_HEADER_H = 16;
/** The lines after the last flagged row (its count, and the font note when needed). */
const CLOSING_H = 30;
const THUMB = 48;

function flaggedHeader(l: Layout, scale: number): void {
  const h = FLAGGED_HEADER_H;
  l.doc.rect(l.left, l.y, l.width, h).fill(COLOR.header);
  l.font(FONT.bold, 7.5);
  let x = l.left;
  for (const c of FLAGGED_COLUMNS) {
    l.cell(c.header, x + 3, l.y + 4.5, c.width * scale - 6);
    x += c.width * scale;
  }
  l.y += h;
}

function flaggedRow(
  l: Layout,
  s: ReportSummary,
  r: InspectionWithDecision,
  names: RowNames,
  images: ImageCache,
  scale: number,
): void {
  const { doc } = l;
  const y = l.y;
  const w = FLAGGED_COLUMNS.map((c) => c.width * scale);
  const xs = w.map((_, i) => l.left + w.slice(0, i).reduce((a, v) => a + v, 0));
  const d = r.latestDecision;

  l.font(FONT.bold, 7.5);
  l.cell(`#${r.id} · ${names.line(r.lineId)}`, xs[0] + 3, y + 4, w[0] - 6);
  l.font(FONT.regular, 7);
  l.cell(r.scoredAt, xs[0] + 3, y + 14, w[0] - 6);
  l.font(FONT.regular, 6.5, COLOR.muted);
  l.cell(r.filePath, xs[0] + 3, y + 24, w[0] - 6, 'left', true);
  const model = names.model(r.modelId);
  l.cell(
    model ? `${model.name} ${r.modelVersion ?? ''}` : (r.modelVersion ?? 'no model'),
    xs[0] + 3,
    y + 33,
    w[0] - 6,
  );

  images.draw(l, r.thumbnailKey, xs[1] + (w[1] - THUMB) / 2, y + 4, THUMB);
  images.draw(l, r.heatmapKey, xs[2] + (w[2] - THUMB) / 2, y + 4, THUMB);

  l.font(FONT.regular, 7);
  l.cell(`score ${num(r.rawScore)}`, xs[3] + 3, y + 4, w[3] - 6);
  l.cell(`threshold ${num(r.threshold)}`, xs[3] + 3, y + 14, w[3] - 6);
  l.cell(
    `normalised ${r.normalizedScore === null ? '–' : r.normalizedScore.toFixed(3)}`,
    xs[3] + 3,
    y + 24,
    w[3] - 6,
  );

  const color = !d ? COLOR.unreviewed : d.decision === 'defect' ? COLOR.defect : COLOR.falseAlarm;
  doc.rect(xs[4] + 3, y + 5, 5, 5).fill(color);
  l.font(FONT.bold, 7.5);
  l.cell(decisionLabel(d?.decision), xs[4] + 11, y + 4, w[4] - 14);
  if (d) {
    l.font(FONT.regular, 7);
    l.cell(`by ${d.operator}`, xs[4] + 3, y + 14, w[4] - 6);
    l.cell(d.decidedAt, xs[4] + 3, y + 24, w[4] - 6);
    if (r.decisionCount > 1) {
      l.font(FONT.regular, 6.5, COLOR.muted);
      l.cell(`${r.decisionCount} decisions (corrected)`, xs[4] + 3, y + 34, w[4] - 6);
    }
    if (!decisionVerified(s, d.id)) {
      l.font(FONT.bold, 6.5, COLOR.broken);
      l.cell('UNVERIFIED (chain broken)', xs[4] + 3, y + 43, w[4] - 6);
    }
  }

  if (d?.comment) {
    l.font(FONT.regular, 7);
    l.box(d.comment, xs[5] + 3, y + 4, w[5] - 6, FLAGGED_ROW_H - 8);
  }

  doc
    .moveTo(l.left, y + FLAGGED_ROW_H)
    .lineTo(l.left + l.width, y + FLAGGED_ROW_H)
    .lineWidth(0.4)
    .strokeColor(COLOR.rule)
    .stroke();
  l.y = y + FLAGGED_ROW_H;
}

/** Yield to the event loop until the file has taken what pdfkit produced (pdfkit's push ignores backpressure). */
async function drain(doc: Doc, out: WriteStream): Promise<void> {
  for (;;) {
    await new Promise((r) => setImmediate(r));
    if (out.writableNeedDrain) await once(out, 'drain');
    else if (doc.readableLength === 0) return;
  }
}

async function flaggedSection(
  l: Layout,
  db: StationDatabase,
  s: ReportSummary,
  artifacts: ArtifactStore,
  out: WriteStream,
): Promise<void> {
  l.newPage();
  const flagged = s.overall.flagged;
  l.heading(`Flagged images (${int(flagged)})`);
  if (!flagged) {
    l.paragraph(
      s.overall.inspected ? 'No flagged images in this period.' : `${NO_INSPECTIONS}.`,
      11,
      COLOR.text,
    );
    if (l.replacedTexts) l.paragraph(fontNote(l));
    l.setPageTotal(l.pageIndex + 1);
    return;
  }
  l.paragraph(
    'Every image the model flagged in the period, oldest first, with its latest decision. Score and threshold ' +
      'are raw scores as judged (the threshold in force then); normalised: 0.5 is the threshold.',
  );
  const scale = l.width / FLAGGED_COLUMNS.reduce((a, c) => a + c.width, 0);
  flaggedHeader(l, scale);
  // Rows have a fixed height, so the table's page count is known before the first row: every page can
  // then be stamped "Page i of n" and written out as soon as it is full.
  let pages = l.pageIndex + 1;
  let y = l.y;
  for (let k = 0; k < flagged; k++) {
    if (y + FLAGGED_ROW_H > l.bottom) {
      pages++;
      y = MARGIN.top + FLAGGED_HEADER_H;
    }
    y += FLAGGED_ROW_H;
  }
  if (y + CLOSING_H > l.bottom) pages++;
  l.setPageTotal(pages);

  const names = rowNames(db);
  const images = new ImageCache(l.doc, artifacts);
  let drawn = 0;
  const draw = async (chunk: InspectionWithDecision[]) => {
    await images.load(chunk.flatMap((r) => [r.thumbnailKey, r.heatmapKey]));
    for (const r of chunk) {
      if (l.y + FLAGGED_ROW_H > l.bottom) {
        l.newPage();
        flaggedHeader(l, scale);
      }
      flaggedRow(l, s, r, names, images, scale);
      drawn++;
    }
    await drain(l.doc, out);
  };
  let chunk: InspectionWithDecision[] = [];
  for (const r of reportRows(db, s, { verdict: 'flag' })) {
    chunk.push(r);
    if (chunk.length === FLAGGED_CHUNK) {
      await draw(chunk);
      chunk = [];
    }
  }
  if (chunk.length) await draw(chunk);
  // The rows come from the summary's snapshot, so this holds unless the database was edited underneath.
  if (drawn !== flagged)
    throw new Error(`the period has ${drawn} flagged rows now, ${flagged} when the report began`);
  if (l.y + CLOSING_H > l.bottom) l.newPage();
  l.font(FONT.regular, 8, COLOR.muted);
  l.cell(
    `End of the flagged images: ${int(drawn)} listed` +
      (images.missing
        ? `; ${int(images.missing)} image(s) missing from the artifact store, shown as empty boxes.`
        : '.'),
    l.left,
    l.y + 6,
    l.width,
  );
  if (l.replacedTexts) l.cell(fontNote(l), l.left, l.y + 17, l.width);
  l.y += CLOSING_H;
}

function fontNote(l: Layout): string {
  return (
    `${int(l.replacedTexts)} text(s) in this report had characters the report font cannot draw, ` +
    'printed as "?"; the CSV has them exactly.'
  );
}

function footer(s: ReportSummary): (l: Layout, index: number, total: number) => void {
  const text =
    `Anomaly Station audit report · ${s.stationName} · ${periodDays(s)} (${s.timeZone})` +
    `${s.lot ? ` · lot ${s.lot}` : ''}`;
  return (l, index, total) => {
    const { doc } = l;
    // The footer sits in the bottom margin: lift the margin so pdfkit does not start a page for it.
    doc.page.margins.bottom = 0;
    const y = doc.page.height - MARGIN.bottom + 22;
    const label = `Page ${index + 1} of ${total}`;
    l.font(FONT.regular, 7.5, COLOR.muted);
    const labelW = doc.widthOfString(label);
    l.cell(text, l.left, y, l.width - labelW - 20);
    doc.text(label, l.left + l.width - labelW, y, { lineBreak: false });
    doc.page.margins.bottom = MARGIN.bottom;
  };
}

/** Write the PDF (via a temp file renamed into place, so a failed export leaves no half file). */
export async function writePdfReport(
  db: StationDatabase,
  artifacts: ArtifactStore,
  summary: ReportSummary,
  file: string,
): Promise<{ pages: number }> {
  const doc = new PDFDocument({
    size: 'A4',
    margins: MARGIN,
    bufferPages: true,
    info: {
      Title: `Inspection audit report, ${summary.stationName}, ${summary.period.from} to ${summary.period.to}`,
      Author: summary.generatedBy,
      Subject: summary.lot ? `Lot / batch ${summary.lot}` : 'Inspection audit report',
      Creator: 'Anomaly Station',
      CreationDate: new Date(summary.generatedAt),
    },
  });
  registerFonts(doc);
  const tmp = `${file}.partial`;
  const out = createWriteStream(tmp);
  const written = finished(out);
  doc.pipe(out);
  try {
    const l = new Layout(doc, footer(summary));
    titlePage(l, summary);
    summaryPages(l, summary);
    modelsSection(l, summary);
    auditSection(l, summary);
    await flaggedSection(l, db, summary, artifacts, out);
    l.finish();
    const pages = l.pageTotal!;
    doc.end();
    await written;
    await rename(tmp, file);
    return { pages };
  } catch (e) {
    doc.unpipe(out);
    out.destroy();
    await written.catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
