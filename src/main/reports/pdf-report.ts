// The report's PDF, drawn with pdfkit and streamed to the file: title page, summary (overall, per line,
// per day, with bar charts drawn from vector primitives), the models in force and their activations, the
// audit-chain result, then every flagged image of the period with its thumbnail and heatmap. The flagged
// rows are read from the database in chunks and the output drains between chunks, so a long period costs
// pages, not memory: the flagged table's rows have a fixed height, so the page count n is known when the
// table starts, and from there each page is stamped "Page i of n" and written out as soon as it is full
// (pdfkit's bufferPages, flushed by hand; a buffered page costs hundreds of KB of small chunks).
// Its words are in the language asked for (./i18n, ./locales). Text is set in DejaVu Sans (and DejaVu Sans
// Mono for hashes) and, for Japanese and Korean and for names in them, in Noto Sans CJK JP / KR (npm
// @embedpdf/fonts-jp, -kr): each text in the first font of the language's list that draws all of it (a
// Japanese report: Noto JP, then DejaVu, then Noto KR). pdfkit embeds each font used as a subset of the glyphs
// used, so a report with no CJK text carries no CJK font. What no font has a glyph for prints as "?" and the
// report says how many texts that happened to.
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
import type { Language } from '../../common/languages';
import { ENGLISH, reportText, type ReportText } from './i18n';
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
/** The text styles the report is set in; each is drawn by the first face of its list that has the glyphs. */
const FONT = { regular: 'regular', bold: 'bold', mono: 'mono' } as const;
type Role = (typeof FONT)[keyof typeof FONT];
/**
 * The font files by pdfkit name: [npm package, file in it] (dependencies: external in the bundled main too).
 * Noto Sans CJK JP / KR are the region subsets (OpenType/CFF, which pdfkit's fontkit subsets as CIDFontType0).
 */
const FACE_FILES = {
  DejaVuSans: ['dejavu-fonts-ttf', 'ttf/DejaVuSans.ttf'],
  'DejaVuSans-Bold': ['dejavu-fonts-ttf', 'ttf/DejaVuSans-Bold.ttf'],
  DejaVuSansMono: ['dejavu-fonts-ttf', 'ttf/DejaVuSansMono.ttf'],
  NotoSansJP: ['@embedpdf/fonts-jp', 'fonts/NotoSansJP-Regular.otf'],
  'NotoSansJP-Bold': ['@embedpdf/fonts-jp', 'fonts/NotoSansJP-Bold.otf'],
  NotoSansKR: ['@embedpdf/fonts-kr', 'fonts/NotoSansKR-Regular.otf'],
  'NotoSansKR-Bold': ['@embedpdf/fonts-kr', 'fonts/NotoSansKR-Bold.otf'],
} as const;
type Face = keyof typeof FACE_FILES;
const LATIN: Record<Role, Face> = { regular: 'DejaVuSans', bold: 'DejaVuSans-Bold', mono: 'DejaVuSansMono' };
const JAPANESE: Record<Role, Face> = { regular: 'NotoSansJP', bold: 'NotoSansJP-Bold', mono: 'NotoSansJP' };
const KOREAN: Record<Role, Face> = { regular: 'NotoSansKR', bold: 'NotoSansKR-Bold', mono: 'NotoSansKR' };

/**
 * Per style, the faces tried in order: the language's own first (Japanese and Korean set their Latin text in
 * Noto too, so a line reads in one face), then the others for names in other scripts. Hashes stay in DejaVu
 * Sans Mono.
 */
function faceLists(language: Language): Record<Role, Face[]> {
  const order =
    language === 'ja'
      ? [JAPANESE, LATIN, KOREAN]
      : language === 'ko'
        ? [KOREAN, LATIN, JAPANESE]
        : [LATIN, JAPANESE, KOREAN];
  return {
    regular: order.map((o) => o.regular),
    bold: order.map((o) => o.bold),
    mono: [LATIN.mono, ...order.filter((o) => o !== LATIN).map((o) => o.mono)],
  };
}
/** Flagged rows drawn between two waits for the file to catch up (and images loaded at once). */
const FLAGGED_CHUNK = 64;
/** Largest side of the thumbnails and heatmaps embedded in the PDF, in pixels (about 2x their printed size). */
const IMAGE_PX = 96;
/** More days than this and the chart's bars cover several days each, so bars stay wide enough to read. */
const MAX_BARS = 92;

/** What an English report says when the period has no inspections. */
export const NO_INSPECTIONS = ENGLISH.noInspections;

/** Text that needs no glyph check: printable ASCII (every font has it) and line breaks. */
const PLAIN = /^[\n\x20-\x7e]*$/;
/** Control characters (line breaks apart): never drawn, whatever a font maps them to. */
const CONTROL = /[^\P{Cc}\n]/u;

/** Font files read so far, once per process (DejaVu 1.8 MB; a CJK face about 4.6 MB, read when first needed). */
const fontData = new Map<Face, Buffer>();

/**
 * A file inside an npm package. The @embedpdf font packages export only their (tiny) index, not their fonts
 * folder, so the path is found from the package's own entry point (its dist/ beside fonts/).
 */
function fontFile(pkg: string, file: string): string {
  const require = createRequire(import.meta.url);
  if (pkg === 'dejavu-fonts-ttf') return require.resolve(`${pkg}/${file}`);
  return join(dirname(require.resolve(pkg)), '..', file);
}

/** Register `face` on this document (pdfkit embeds only the glyphs a document uses, and only faces it used). */
function registerFace(doc: Doc, face: Face): void {
  let data = fontData.get(face);
  if (!data) {
    const [pkg, file] = FACE_FILES[face];
    fontData.set(face, (data = readFileSync(fontFile(pkg, file))));
  }
  doc.registerFont(face, data);
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

const decisionLabel = (x: ReportText, d: string | null | undefined): string =>
  x.t(`decision.${d === 'defect' || d === 'false_alarm' ? d : 'unreviewed'}`);

/** A piece of text drawn in one face. */
interface Run {
  face: Face;
  text: string;
}

/** A label / value row of `Layout.pairs`. */
type Pair = [label: string, value: string, style?: { mono?: boolean; color?: string; bold?: boolean }];

interface Column {
  /** The header's message key (column.<key>), or the header itself for a table's first column. */
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

  /** The report's words and number formats. */
  readonly x: ReportText;
  /** Per style, the faces tried in order. */
  private readonly faces: Record<Role, Face[]>;
  private readonly registered = new Set<Face>();
  /** The style set by `font`: `safe` picks its face for each text. */
  private role: Role = FONT.regular;

  constructor(
    readonly doc: Doc,
    private readonly footer: (l: Layout, index: number, total: number) => void,
    language: Language,
  ) {
    this.y = MARGIN.top;
    this.x = reportText(language);
    this.faces = faceLists(language);
  }

  /** Texts that had characters no report font can draw (replaced by "?"; the CSV has them exactly). */
  replacedTexts = 0;
  /** Per face: whether it draws a code point, for the code points met so far. */
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

  /** Make `face` the document's current font (registered on first use), keeping size and colour. */
  private use(face: Face): void {
    if (!this.registered.has(face)) {
      registerFace(this.doc, face);
      this.registered.add(face);
    }
    this.doc.font(face);
  }

  /** Whether `face` draws `ch` (cached per face and code point; control characters: never). */
  private has(face: Face, ch: string): boolean {
    let known = this.glyphs.get(face);
    if (!known) this.glyphs.set(face, (known = new Map()));
    const cp = ch.codePointAt(0)!;
    let ok = known.get(cp);
    if (ok === undefined) {
      this.use(face);
      ok = cp === 0x0a || (!CONTROL.test(ch) && currentFont(this.doc).hasGlyphForCodePoint(cp));
      known.set(cp, ok);
    }
    return ok;
  }

  /**
   * Text cut into runs, each in one face of the current style's list: a whole text in its first face that
   * draws all of it (nearly always), else word by word, each word in the first face that draws it (a
   * Japanese label and a Polish name: 確認者 in Noto JP, Łukasz in DejaVu), else character by character. A
   * character no face has would print as an empty box, so it becomes a visible "?", as do control
   * characters, and the report counts the texts that happened to (`replacedTexts`).
   */
  runs(text: string): Run[] {
    const faces = this.faces[this.role];
    if (PLAIN.test(text)) return [{ face: faces[0], text }];
    const whole = (t: string) => faces.find((f) => [...t].every((ch) => this.has(f, ch)));
    const all = whole(text);
    if (all) return [{ face: all, text }];
    const out: Run[] = [];
    const push = (face: Face, t: string) => {
      const last = out.at(-1);
      if (last && last.face === face) last.text += t;
      else out.push({ face, text: t });
    };
    let replaced = false;
    for (const word of text.split(/(\s+)/)) {
      if (!word) continue;
      // Spaces go with the run before them (every face has them).
      if (/^\s+$/.test(word) && out.length) {
        out.at(-1)!.text += word;
        continue;
      }
      const face = whole(word);
      if (face) {
        push(face, word);
        continue;
      }
      for (const ch of word) {
        const f = faces.find((x) => this.has(x, ch));
        if (f) push(f, ch);
        else {
          push(out.at(-1)?.face ?? faces[0], '?');
          replaced = true;
        }
      }
    }
    if (replaced) this.replacedTexts++;
    return out;
  }

  /** Text as the report draws it: characters no face has replaced by "?" (see `runs`). */
  safe(text: string): string {
    return this.runs(text)
      .map((r) => r.text)
      .join('');
  }

  /** Set the style, size and colour of the text that follows (each text then gets its faces, see `runs`). */
  font(role: Role, size: number, color = COLOR.text): this {
    this.role = role;
    this.use(this.faces[role][0]);
    this.doc.fontSize(size).fillColor(color);
    return this;
  }

  /** The width of one line of `text` in the current style and size. */
  widthOf(text: string): number {
    return this.runs(text).reduce((w, r) => {
      this.use(r.face);
      return w + this.doc.widthOfString(r.text);
    }, 0);
  }

  /**
   * The height of `text` wrapped to `options.width`. Mixed faces are measured in the face that draws most
   * of the text: pdfkit measures one font at a time, and the faces differ little in line height.
   */
  heightOf(text: string, options: PDFKit.Mixins.TextOptions): number {
    const runs = this.runs(text);
    const main = [...runs].sort((a, b) => b.text.length - a.text.length)[0];
    this.use(main.face);
    return this.doc.heightOfString(runs.map((r) => r.text).join(''), options);
  }

  /**
   * pdfkit's text in the faces that draw it: one line (lineBreak false) run after run, or wrapped text as
   * pdfkit's continued runs, which it wraps as one paragraph.
   */
  text(raw: string, x: number, y: number, options: PDFKit.Mixins.TextOptions = {}): this {
    const runs = this.runs(raw);
    if (runs.length === 1) {
      this.use(runs[0].face);
      this.doc.text(runs[0].text, x, y, options);
    } else if (options.lineBreak === false) {
      let at = x;
      for (const r of runs) {
        this.use(r.face);
        this.doc.text(r.text, at, y, options);
        at += this.doc.widthOfString(r.text);
      }
    } else {
      runs.forEach((r, i) => {
        this.use(r.face);
        const continued = i < runs.length - 1;
        if (i === 0) this.doc.text(r.text, x, y, { ...options, continued });
        else this.doc.text(r.text, { continued });
      });
    }
    return this;
  }

  /** `text` cut with an ellipsis to fit `width` in the current style; `fromStart` keeps the end (paths). */
  fit(text: string, width: number, fromStart = false): string {
    const flat = this.safe(text.replace(/\s*[\r\n]+\s*/g, ' '));
    if (this.widthOf(flat) <= width) return flat;
    // Cut between code points, never inside a surrogate pair.
    const chars = [...flat];
    const cut = (n: number) =>
      fromStart ? `…${chars.slice(chars.length - n).join('')}` : `${chars.slice(0, n).join('')}…`;
    let lo = 0;
    let hi = chars.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.widthOf(cut(mid)) <= width) lo = mid;
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
    const dx = align === 'right' ? width - this.widthOf(s) : 0;
    this.text(s, x + dx, y, { lineBreak: false });
  }

  /** Wrapped text clipped to a box (ellipsis when it does not fit); returns the height used. */
  box(text: string, x: number, y: number, width: number, maxHeight: number): number {
    const flat = text.replace(/\r\n?/g, '\n');
    const h = Math.min(maxHeight, this.heightOf(flat, { width }));
    this.text(flat, x, y, { width, height: maxHeight, ellipsis: true });
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
    this.font(FONT.bold, 10.5);
    this.cell(text, this.left, this.y, this.width);
    this.y += 16;
  }

  /** A wrapped paragraph across the content width (short ones: it is kept on one page). */
  paragraph(text: string, size = 8.5, color = COLOR.muted): void {
    this.font(FONT.regular, size, color);
    const h = this.heightOf(text, { width: this.width });
    this.ensure(h + 4);
    this.text(text, this.left, this.y, { width: this.width });
    this.y += h + 6;
  }

  /** Label / value rows; a value may wrap, and so may a label longer than its column (German ones can be). */
  pairs(rows: Pair[], labelWidth = 110): void {
    for (const [rawLabel, raw, o] of rows) {
      const valueWidth = this.width - labelWidth;
      const labelBox = { width: labelWidth - 8 };
      const valueFont = () =>
        this.font(o?.mono ? FONT.mono : o?.bold ? FONT.bold : FONT.regular, o?.mono ? 8.5 : 10, o?.color);
      const labelFont = () => this.font(FONT.bold, 10, COLOR.muted);
      const valueH = valueFont().heightOf(raw, { width: valueWidth });
      const labelH = labelFont().heightOf(rawLabel, labelBox);
      const h = Math.max(14, valueH + 3, labelH + 3);
      this.ensure(h);
      labelFont().text(rawLabel, this.left, this.y, labelBox);
      valueFont().text(raw, this.left + labelWidth, this.y + (o?.mono ? 1 : 0), { width: valueWidth });
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
        const widest = Math.max(...c.header.split(/\s+/).map((word) => this.widthOf(word)));
        if (widest > w) this.doc.fontSize(Math.max(5, (headerSize * w) / widest));
        const h = this.heightOf(c.header, { width: w });
        this.text(c.header, x + 3, this.y + headerH - h - 3, {
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
  let lx = l.left + l.width;
  for (const s of [...series].reverse()) {
    l.font(FONT.regular, 7.5);
    lx -= l.widthOf(s.name) + 4;
    l.text(s.name, lx, top + 1, { lineBreak: false });
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
  const axisW = Math.max(36, doc.widthOfString(l.x.int(yMax)) + 8);
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
    l.cell(l.x.int(v), l.left, y - 2.5, axisW - 4, 'right');
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
  { header: 'inspected', width: 49, align: 'right' },
  { header: 'passed', width: 49, align: 'right' },
  { header: 'flagged', width: 45, align: 'right' },
  { header: 'confirmedDefects', width: 47, align: 'right' },
  { header: 'falseAlarms', width: 42, align: 'right' },
  { header: 'unreviewed', width: 53, align: 'right' },
  { header: 'errors', width: 40, align: 'right' },
  { header: 'flagRate', width: 44, align: 'right' },
  { header: 'yield', width: 44, align: 'right' },
];

/** Columns with their headers in the report's language (the keys above are message keys, column.<key>). */
const columnsIn = (x: ReportText, columns: Column[]): Column[] =>
  columns.map((c) => ({ ...c, header: x.t(`column.${c.header}`) }));
/** The first column of the count tables: what is left of the content width. */
const COUNT_LABEL_WIDTH = 98;

function countCells(x: ReportText, c: ReportCounts): string[] {
  return [
    x.int(c.inspected),
    x.int(c.passed),
    x.int(c.flagged),
    x.int(c.confirmedDefects),
    x.int(c.falseAlarms),
    x.int(c.unreviewed),
    x.int(c.errors),
    x.pct(c.flagRate),
    x.pct(c.yield),
  ];
}

/** The period in the report's local time (its days are those days), then the same instants in UTC. */
function periodText(x: ReportText, s: ReportSummary): string {
  const [from, to] = [Date.parse(s.period.from), Date.parse(s.period.to)];
  return x.t('period', {
    from: localDateTime(from, s.timeZone),
    to: localDateTime(to, s.timeZone),
    zone: s.timeZoneLabel,
    fromUtc: s.period.from,
    toUtc: s.period.to,
  });
}

/** "2026-11-23 to 2026-11-29": the local days the period covers, last one included. */
function periodDays(x: ReportText, s: ReportSummary): string {
  const [from, to] = [Date.parse(s.period.from), Date.parse(s.period.to)];
  return x.t('days', { from: localDate(from, s.timeZone), to: localDate(to - 1, s.timeZone) });
}

function auditLine(x: ReportText, s: ReportSummary): string {
  const a = s.audit;
  return a.ok
    ? x.t('auditOk', { n: x.int(a.count) })
    : x.t('auditBroken', { id: a.firstBadId ?? '?', n: x.int(a.count) });
}

function titlePage(l: Layout, s: ReportSummary): void {
  const { doc, x } = l;
  l.y = 120;
  l.font(FONT.regular, 12, COLOR.muted).text('Anomaly Station', l.left, l.y, { lineBreak: false });
  l.y += 18;
  l.font(FONT.bold, 28).text(x.t('title'), l.left, l.y, { lineBreak: false });
  l.y += 38;
  l.font(FONT.regular, 15).text(s.stationName, l.left, l.y, { width: l.width });
  l.y += 34;
  const lines = s.lineFilter
    ? x.t('restrictedLine', { line: s.lineFilter.name })
    : s.lines.map((line) => line.name).join(', ') || x.t('none');
  const o = s.overall;
  l.pairs([
    [x.t('label.station'), s.stationName],
    [x.t('label.lines'), lines],
    [x.t('label.period'), periodText(x, s)],
    [x.t('label.lot'), s.lot ? x.t('lotNote', { lot: s.lot }) : '–'],
    [x.t('label.generated'), x.t('generatedBy', { at: s.generatedAt, by: s.generatedBy })],
    [
      x.t('label.inspections'),
      o.inspected
        ? x.t('inspectionsSummary', {
            inspected: x.int(o.inspected),
            flagged: x.int(o.flagged),
            confirmed: x.int(o.confirmedDefects),
            falseAlarms: x.int(o.falseAlarms),
            unreviewed: x.int(o.unreviewed),
            errors: x.int(o.errors),
          })
        : x.t('noInspections'),
    ],
    [x.t('label.auditChain'), auditLine(x, s), { bold: true, color: s.audit.ok ? COLOR.ok : COLOR.broken }],
    // On a line of its own, in the mono font: 64 hex digits do not fit the value column in bold.
    ...(s.audit.ok
      ? ([[x.t('label.headHash'), s.audit.headHash ?? x.t('noDecisionsYet'), { mono: true }]] as Pair[])
      : []),
  ]);
  if (!o.inspected) {
    l.y += 10;
    doc.rect(l.left, l.y, l.width, 40).lineWidth(1).strokeColor(COLOR.rule).stroke();
    l.font(FONT.bold, 14).text(x.t('noInspections'), l.left, l.y + 13, { width: l.width, align: 'center' });
    l.y += 50;
  }
  if (!s.audit.ok) {
    l.y += 10;
    doc.rect(l.left, l.y, l.width, 40).fill(COLOR.broken);
    l.font(FONT.bold, 14, '#ffffff').text(
      x.t('brokenBanner', { id: s.audit.firstBadId ?? '?' }),
      l.left,
      l.y + 13,
      { width: l.width, align: 'center' },
    );
    l.y += 50;
  }
}

function summaryPages(l: Layout, s: ReportSummary): void {
  const { x } = l;
  l.newPage();
  l.heading(x.t('summary'));
  const o = s.overall;
  if (!o.inspected) l.paragraph(`${x.t('noInspections')}.`, 11, COLOR.text);
  l.subheading(x.t('overall'));
  const rows = [
    [x.t('allLines'), ...countCells(x, o)],
    ...s.lines.map((line) => [
      line.removedAt ? x.t('removed', { line: line.name }) : line.name,
      ...countCells(x, line.counts),
    ]),
  ];
  l.table([{ header: x.t('column.line'), width: COUNT_LABEL_WIDTH }, ...columnsIn(x, COUNT_COLUMNS)], rows, {
    boldRows: new Set([0]),
  });
  l.paragraph(
    x.t('explanation', {
      missed: o.missedDefects ? x.t('missedDefects', { n: x.int(o.missedDefects) }) : '',
    }),
  );

  l.subheading(x.t('perDay', { zone: s.timeZoneLabel }));
  if (!o.inspected) {
    l.paragraph(x.t('noChart', { none: x.t('noInspections') }));
  } else {
    const { days, buckets } = dayBuckets(s);
    const byDay = new Map(s.days.map((d) => [d.day, d.counts]));
    const sum = (keys: string[], pick: (c: ReportCounts) => number) =>
      keys.reduce((a, k) => a + (byDay.has(k) ? pick(byDay.get(k)!) : 0), 0);
    const unit = days === 1 ? x.t('unitDay') : x.t('unitDays', { n: days });
    stackedBars(
      l,
      x.t('chartInspections', { unit }),
      [
        { name: x.t('series.passed'), color: COLOR.pass },
        { name: x.t('series.flagged'), color: COLOR.flag },
        { name: x.t('series.errors'), color: COLOR.error },
      ],
      buckets.map((b) => ({
        label: b.label,
        values: [sum(b.keys, (c) => c.passed), sum(b.keys, (c) => c.flagged), sum(b.keys, (c) => c.errors)],
      })),
    );
    stackedBars(
      l,
      x.t('chartFlagged', { unit }),
      [
        { name: x.t('series.confirmedDefect'), color: COLOR.defect },
        { name: x.t('series.falseAlarm'), color: COLOR.falseAlarm },
        { name: x.t('series.unreviewed'), color: COLOR.unreviewed },
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
      [{ header: x.t('column.day'), width: COUNT_LABEL_WIDTH }, ...columnsIn(x, COUNT_COLUMNS)],
      s.days.map((d) => [d.day, ...countCells(x, d.counts)]),
    );
  }
}

function modelsSection(l: Layout, s: ReportSummary): void {
  const { x } = l;
  l.newPage();
  l.heading(x.t('models'));
  if (!s.models.length) l.paragraph(x.t('noModels'));
  for (const m of s.models) {
    l.ensure(80);
    l.font(FONT.bold, 10);
    l.cell(m.name, l.left, l.y, l.width);
    l.y += 14;
    l.pairs(
      [
        [
          x.t('label.methodVersion'),
          x.t('methodVersion', { method: m.method, version: m.version, id: m.id }),
        ],
        [x.t('label.trainingDataHash'), m.trainingDataHash ?? '–', { mono: true }],
        [
          x.t('label.calibratedThreshold'),
          x.t('calibratedThreshold', { threshold: x.num(m.threshold), at: m.calibratedAt ?? x.t('never') }),
        ],
        [x.t('label.thresholdsApplied'), appliedText(x, m)],
        [x.t('label.inPeriod'), x.t('imagesJudged', { n: x.int(m.inspected) })],
        ...(m.lineage
          ? ([
              [
                x.t('label.lineage'),
                x.t('lineageRecord', { sentence: lineageSentence(m.lineage), id: m.lineage.recordId }),
              ],
            ] as Pair[])
          : []),
      ],
      130,
    );
  }
  l.subheading(x.t('activations'));
  if (!s.activations.length) {
    l.paragraph(x.t('noActivations'));
    return;
  }
  l.table(
    columnsIn(x, [
      { header: 'line', width: 108 },
      { header: 'activatedAt', width: 110 },
      { header: 'model', width: 143 },
      { header: 'thresholdOverride', width: 45, align: 'right' },
      { header: 'thresholdInForce', width: 45, align: 'right' },
      { header: 'when', width: 60 },
    ]),
    s.activations.map((a) => [
      a.lineName,
      a.activatedAt,
      a.modelId === null ? x.t('none') : `${a.modelName ?? `#${a.modelId}`} ${a.modelVersion ?? ''}`.trim(),
      x.num(a.thresholdOverride),
      x.num(a.thresholdInForce),
      a.inForceAtStart ? x.t('atPeriodStart') : x.t('duringPeriod'),
    ]),
  );
}

/** The thresholds a model's images were judged by in the period, per line, as the inspection rows say. */
function appliedText(x: ReportText, m: ReportSummary['models'][number]): string {
  if (!m.applied.length) return x.t('appliedNone');
  return m.applied
    .map((a) =>
      x.t(a.threshold !== null && a.threshold === m.threshold ? 'appliedOnCalibrated' : 'appliedOn', {
        threshold: x.num(a.threshold),
        line: a.lineName,
        n: x.int(a.inspected),
      }),
    )
    .join('; ');
}

/** The model lineage's chain (children made from feedback and their images), verified with the decisions. */
function lineagePair(x: ReportText, s: ReportSummary): Pair {
  const a = s.lineageAudit;
  return a.ok
    ? [
        x.t('label.modelLineage'),
        x.t('lineageOk', { n: x.int(a.count), head: a.headHash ?? x.t('lineageNone') }),
      ]
    : [
        x.t('label.modelLineage'),
        x.t('lineageBroken', { id: a.firstBadId ?? '?', reason: a.reason ?? '' }),
        { bold: true, color: COLOR.broken },
      ];
}

function auditSection(l: Layout, s: ReportSummary): void {
  const { x } = l;
  l.ensure(200);
  l.heading(x.t('auditHeading'));
  const a = s.audit;
  l.font(FONT.bold, 16, a.ok ? COLOR.ok : COLOR.broken).text(x.t(a.ok ? 'ok' : 'broken'), l.left, l.y, {
    lineBreak: false,
  });
  l.y += 24;
  l.pairs(
    [
      [x.t('label.decisionsVerified'), x.int(a.count)],
      [
        x.t(a.ok ? 'label.headHash' : 'label.lastVerifiedHash'),
        a.headHash ?? x.t('noDecisionsYet'),
        { mono: true },
      ],
      ...(a.ok
        ? []
        : ([
            [
              x.t('label.firstBadRow'),
              x.t('decisionNumber', { id: a.firstBadId ?? '?' }),
              { bold: true, color: COLOR.broken },
            ],
            [x.t('label.reason'), a.reason ?? ''],
          ] as Pair[])),
      lineagePair(x, s),
    ],
    120,
  );
  l.paragraph(x.t('auditExplanation') + (a.ok ? '' : x.t('auditUnverified', { id: a.firstBadId ?? '?' })));
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
    l.font(FONT.regular, 6, COLOR.muted).text(
      l.x.t(key === null ? 'imageNone' : 'imageMissing'),
      x,
      y + size / 2 - 3,
      {
        width: size,
        align: 'center',
        lineBreak: false,
      },
    );
  }
}

/** In points of the content width: a full timestamp fits the Inspection and Decision columns at 7 pt. */
const FLAGGED_COLUMNS = [
  { header: 'inspection', width: 139 },
  { header: 'thumbnail', width: 52 },
  { header: 'heatmap', width: 52 },
  { header: 'score', width: 78 },
  { header: 'decision', width: 108 },
  { header: 'comment', width: 82 },
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
    l.cell(l.x.t(`column.${c.header}`), x + 3, l.y + 4.5, c.width * scale - 6);
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
    model ? `${model.name} ${r.modelVersion ?? ''}` : (r.modelVersion ?? l.x.t('noModel')),
    xs[0] + 3,
    y + 33,
    w[0] - 6,
  );

  images.draw(l, r.thumbnailKey, xs[1] + (w[1] - THUMB) / 2, y + 4, THUMB);
  images.draw(l, r.heatmapKey, xs[2] + (w[2] - THUMB) / 2, y + 4, THUMB);

  l.font(FONT.regular, 7);
  const { x } = l;
  l.cell(x.t('rowScore', { score: x.num(r.rawScore) }), xs[3] + 3, y + 4, w[3] - 6);
  l.cell(x.t('rowThreshold', { threshold: x.num(r.threshold) }), xs[3] + 3, y + 14, w[3] - 6);
  l.cell(x.t('rowNormalised', { score: x.fixed(r.normalizedScore, 3) }), xs[3] + 3, y + 24, w[3] - 6);

  const color = !d ? COLOR.unreviewed : d.decision === 'defect' ? COLOR.defect : COLOR.falseAlarm;
  doc.rect(xs[4] + 3, y + 5, 5, 5).fill(color);
  l.font(FONT.bold, 7.5);
  l.cell(decisionLabel(x, d?.decision), xs[4] + 11, y + 4, w[4] - 14);
  if (d) {
    l.font(FONT.regular, 7);
    l.cell(x.t('by', { operator: d.operator }), xs[4] + 3, y + 14, w[4] - 6);
    l.cell(d.decidedAt, xs[4] + 3, y + 24, w[4] - 6);
    if (r.decisionCount > 1) {
      l.font(FONT.regular, 6.5, COLOR.muted);
      l.cell(x.t('corrected', { n: x.int(r.decisionCount) }), xs[4] + 3, y + 34, w[4] - 6);
    }
    if (!decisionVerified(s, d.id)) {
      l.font(FONT.bold, 6.5, COLOR.broken);
      l.cell(x.t('unverified'), xs[4] + 3, y + 43, w[4] - 6);
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
  const { x } = l;
  l.newPage();
  const flagged = s.overall.flagged;
  l.heading(x.t('flaggedHeading', { n: x.int(flagged) }));
  if (!flagged) {
    l.paragraph(s.overall.inspected ? x.t('noFlagged') : `${x.t('noInspections')}.`, 11, COLOR.text);
    if (l.replacedTexts) l.paragraph(fontNote(l));
    l.setPageTotal(l.pageIndex + 1);
    return;
  }
  l.paragraph(x.t('flaggedExplanation'));
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
    images.missing
      ? x.t('endListedMissing', { n: x.int(drawn), missing: x.int(images.missing) })
      : x.t('endListed', { n: x.int(drawn) }),
    l.left,
    l.y + 6,
    l.width,
  );
  if (l.replacedTexts) l.cell(fontNote(l), l.left, l.y + 17, l.width);
  l.y += CLOSING_H;
}

function fontNote(l: Layout): string {
  return l.x.t('fontNote', { n: l.x.int(l.replacedTexts) });
}

function footer(x: ReportText, s: ReportSummary): (l: Layout, index: number, total: number) => void {
  const text =
    x.t('footer', { station: s.stationName, days: periodDays(x, s), zone: s.timeZone }) +
    (s.lot ? x.t('footerLot', { lot: s.lot }) : '');
  return (l, index, total) => {
    const { doc } = l;
    // The footer sits in the bottom margin: lift the margin so pdfkit does not start a page for it.
    doc.page.margins.bottom = 0;
    const y = doc.page.height - MARGIN.bottom + 22;
    l.font(FONT.regular, 7.5, COLOR.muted);
    const label = x.t('page', { n: index + 1, total });
    const labelW = l.widthOf(label);
    l.cell(text, l.left, y, l.width - labelW - 20);
    l.text(label, l.left + l.width - labelW, y, { lineBreak: false });
    doc.page.margins.bottom = MARGIN.bottom;
  };
}

/** Write the PDF (via a temp file renamed into place, so a failed export leaves no half file). */
export async function writePdfReport(
  db: StationDatabase,
  artifacts: ArtifactStore,
  summary: ReportSummary,
  file: string,
  language: Language = 'en',
): Promise<{ pages: number }> {
  const x = reportText(language);
  const doc = new PDFDocument({
    size: 'A4',
    margins: MARGIN,
    bufferPages: true,
    lang: language,
    info: {
      Title: x.t('pdfTitle', {
        station: summary.stationName,
        from: summary.period.from,
        to: summary.period.to,
      }),
      Author: summary.generatedBy,
      Subject: summary.lot ? x.t('subjectLot', { lot: summary.lot }) : x.t('subject'),
      Creator: 'Anomaly Station',
      CreationDate: new Date(summary.generatedAt),
    },
  });
  const tmp = `${file}.partial`;
  const out = createWriteStream(tmp);
  const written = finished(out);
  doc.pipe(out);
  try {
    const l = new Layout(doc, footer(x, summary), language);
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
