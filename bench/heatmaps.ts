// Heatmap contact sheets for bench:detect: for a few test images of every defect type (and a few good ones),
// one row of [image as the model sees it | residual heatmap over it | ground-truth mask], labelled with the
// type, file, score and verdict, so a person can see whether the hot spot sits on the defect. The heatmap
// uses the model's own colour scale (meta.json's heatmap vmin/vmax, from held-out good images), the station's.
import sharp, { type OverlayOptions } from 'sharp';
import { basename } from 'node:path';
import { overlayRgba, scoreImages, TfjsEngine, verdict } from '../src/ml';
import { loadImage, loadMask } from '../src/main/io/images';
import type { LoadedModel } from '../src/main/io/model-store';
import type { TestImage } from '../src/main/io/datasets';

const TILE = 192;
const LABEL = 22;

/** The first `perType` images of each defect type and of test/good (sorted by name: repeatable). */
export function pickExamples(tests: TestImage[], perType: number): TestImage[] {
  const byType = new Map<string, TestImage[]>();
  for (const t of [...tests].sort((a, b) => a.file.localeCompare(b.file)))
    byType.set(t.type, [...(byType.get(t.type) ?? []), t]);
  return [...byType.values()].flatMap((list) => list.slice(0, perType));
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

async function tile(data: Uint8Array | Uint8ClampedArray, w: number, h: number, ch: 1 | 3 | 4) {
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
    raw: { width: w, height: h, channels: ch },
  })
    .resize(TILE, TILE, { fit: 'fill' })
    .removeAlpha()
    .toColourspace('srgb')
    .png()
    .toBuffer();
}

/** Write one PNG sheet for `examples`; returns how many rows it has. */
export async function writeHeatmapSheet(
  model: LoadedModel,
  examples: TestImage[],
  file: string,
): Promise<number> {
  const rows: OverlayOptions[] = [];
  const engine = new TfjsEngine(model.detector);
  const { vmin = 0, vmax } = model.meta.heatmap ?? {};
  let y = 0;
  for (const ex of examples) {
    const sample = await loadImage(ex.file, model.load);
    const [r] = await scoreImages(engine, [sample], model.input, { maps: true });
    const scale = vmax ?? Math.max(...r.map!);
    const overlay = overlayRgba(sample.data, r.map!, r.width, r.height, {
      vmin,
      vmax: scale,
      opacity: 0.5,
    });
    const mask = ex.mask ? await loadMask(ex.mask, r.width, r.height) : new Uint8Array(r.width * r.height);
    const cal = model.meta.calibration;
    const text = `${ex.type} · ${basename(ex.file)} · score ${r.score.toPrecision(4)} · ${cal ? verdict(r.score, cal) : ''}`;
    const label = Buffer.from(
      `<svg width="${3 * TILE}" height="${LABEL}"><rect width="100%" height="100%" fill="${ex.label ? '#5a1010' : '#103a10'}"/>` +
        `<text x="6" y="16" font-family="sans-serif" font-size="13" fill="white">${escapeXml(text)}</text></svg>`,
    );
    rows.push({ input: label, left: 0, top: y });
    y += LABEL;
    rows.push({ input: await tile(sample.data, r.width, r.height, sample.channels), left: 0, top: y });
    rows.push({ input: await tile(overlay, r.width, r.height, 4), left: TILE, top: y });
    rows.push({ input: await tile(mask, r.width, r.height, 1), left: 2 * TILE, top: y });
    y += TILE;
  }
  await sharp({ create: { width: 3 * TILE, height: Math.max(1, y), channels: 3, background: '#000' } })
    .composite(rows)
    .png({ compressionLevel: 9 })
    .toFile(file);
  return examples.length;
}
