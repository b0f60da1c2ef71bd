// Reads a PDF back for the tests in JavaScript, so that they need no poppler: unpdf (Mozilla's pdf.js in a
// build for Node) for what a reader gets — pages, text with its line breaks, image draws — parsed strictly,
// and @cantoo/pdf-lib for the objects pdf.js keeps to itself: each font's dictionary (embedded file and its
// size, subset name, ToUnicode map, as poppler's pdffonts shows them) and the image XObjects in the file.
import { readFileSync } from 'node:fs';
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFRawStream, PDFRef, PDFStream } from '@cantoo/pdf-lib';
import { extractText, getDocumentProxy, getResolvedPDFJS } from 'unpdf';

export interface PdfFont {
  /** BaseFont as written, e.g. `CZZZZZ+DejaVuSans` (a subset's six-letter tag included). */
  name: string;
  /** `Type0`, `TrueType`, `Type1`, ... */
  subtype: string;
  /** The font program is in the file (FontFile, FontFile2 or FontFile3 in its descriptor). */
  embedded: boolean;
  /** The name carries a subset tag (six capitals and `+`). */
  subset: boolean;
  /** A ToUnicode CMap maps its codes back to text. */
  toUnicode: boolean;
  /** Bytes of the embedded font program as stored (its stream, compressed), 0 when not embedded. */
  fileBytes: number;
}

export interface PdfText {
  pages: number;
  /** Per page: pdf.js's text items, a line break where pdf.js sees the end of a line. */
  pageText: string[];
  /** All pages' text, one after the other. */
  text: string;
}

export interface PdfContents extends PdfText {
  /** Per page: how many times an image is drawn (pdf.js's operator list; stencil masks not counted). */
  imageDraws: number[];
  /** Image XObjects in the file, not counting those that serve as another image's (soft) mask. */
  imageObjects: number;
  /** Every font the pages' resources name, once each. */
  fonts: PdfFont[];
}

/** Everything below: text, pages, image draws, image objects and fonts. */
export async function readPdf(file: string): Promise<PdfContents> {
  const bytes = readFileSync(file);
  const [reader, objects] = await Promise.all([readPages(new Uint8Array(bytes), true), readObjects(bytes)]);
  return { ...reader, ...objects };
}

/** Pages and text only (what a page-count check needs, at a fraction of readPdf's time). */
export async function readPdfText(file: string): Promise<PdfText> {
  const { pages, pageText, text } = await readPages(new Uint8Array(readFileSync(file)), false);
  return { pages, pageText, text };
}

/** What pdf.js reads: it rejects rather than recovers what it cannot parse (stopAtErrors). */
async function readPages(data: Uint8Array, draws: boolean) {
  const { OPS } = await getResolvedPDFJS();
  const pdf = await getDocumentProxy(data, { stopAtErrors: true });
  try {
    const { text: pageText } = await extractText(pdf);
    const drawsImage = new Set<number>([OPS.paintImageXObject, OPS.paintInlineImageXObject]);
    const imageDraws: number[] = [];
    for (let p = 1; draws && p <= pdf.numPages; p++) {
      const ops = await (await pdf.getPage(p)).getOperatorList();
      imageDraws.push(ops.fnArray.filter((fn) => drawsImage.has(fn)).length);
    }
    return { pages: pdf.numPages, pageText, text: pageText.join('\n'), imageDraws };
  } finally {
    await pdf.loadingTask.destroy();
  }
}

/** The object level, where pdf.js offers no API. */
async function readObjects(bytes: Uint8Array) {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false, throwOnInvalidObject: true });
  const ctx = doc.context;
  const name = (dict: PDFDict, key: string) => dict.lookupMaybe(PDFName.of(key), PDFName)?.decodeText() ?? '';

  const fontRefs = new Map<string, PDFDict>();
  for (const page of doc.getPages()) {
    const fonts = page.node.Resources()?.lookupMaybe(PDFName.of('Font'), PDFDict);
    for (const [, ref] of fonts?.entries() ?? []) fontRefs.set(String(ref), ctx.lookup(ref, PDFDict));
  }
  const fonts = [...fontRefs.values()].map((font): PdfFont => {
    // A composite (Type0) font keeps its descriptor on its one descendant font.
    const descendants = font.lookupMaybe(PDFName.of('DescendantFonts'), PDFArray);
    const described = descendants ? descendants.lookup(0, PDFDict) : font;
    const descriptor = described.lookupMaybe(PDFName.of('FontDescriptor'), PDFDict);
    const fontName = name(font, 'BaseFont');
    const fileKey = ['FontFile', 'FontFile2', 'FontFile3'].find((k) => descriptor?.has(PDFName.of(k)));
    const program = fileKey ? descriptor!.lookupMaybe(PDFName.of(fileKey), PDFStream) : undefined;
    return {
      name: fontName,
      subtype: name(font, 'Subtype'),
      embedded: fileKey !== undefined,
      fileBytes: program instanceof PDFRawStream ? program.contents.length : 0,
      subset: /^[A-Z]{6}\+/.test(fontName),
      toUnicode: font.has(PDFName.of('ToUnicode')),
    };
  });

  const images: PDFRef[] = [];
  const masks = new Set<string>();
  for (const [ref, object] of ctx.enumerateIndirectObjects()) {
    if (!(object instanceof PDFRawStream) || name(object.dict, 'Subtype') !== 'Image') continue;
    images.push(ref);
    for (const key of ['SMask', 'Mask']) {
      const mask = object.dict.get(PDFName.of(key));
      if (mask instanceof PDFRef) masks.add(String(mask));
    }
  }
  return { fonts, imageObjects: images.filter((ref) => !masks.has(String(ref))).length };
}
