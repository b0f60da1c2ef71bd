// The data flow of one image: stat -> dedupe -> read + sha256 -> decode (sharp) -> score (worker) ->
// overlay/heatmap/reconstruction/thumbnail PNGs -> one SQLite transaction. The row is the commit point: a
// crash before it leaves the file unscored (the catch-up scores it), a crash after it leaves it scored;
// artifacts are content-addressed, so redoing them is harmless. A bad image becomes an `error` row; a
// storage failure (full disk) commits nothing and says so, so the file is retried instead of lost.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { heatmapRgba, verdict as judge, type Calibration, type ModelMeta } from '../../ml';
import { decodeImage, encodePng, ImageError, thumbnailPng, unitToBytes } from '../io/images';
import type { ArtifactStore } from './artifacts';
import { normalisedAgainst } from './normalised-score';
import type { NewInspection } from './database';
import { ScorerUnavailableError, type ModelInfo, type ModelScorer } from './scorer-pool';

/** What the inspector needs to know about the line a file came from. */
export interface LineContext {
  lineId: number;
  modelId: number;
  modelVersion: string;
  thresholdOverride: number | null;
  scorer: ModelScorer;
  model: ModelInfo;
}

/** One inspections row as the inspector produces it: the database's NewInspection with the PNG keys grouped
 * (null for an error row); the station spreads them into the key columns when it inserts. */
export type InspectionRecord = Omit<
  NewInspection,
  'originalKey' | 'heatmapKey' | 'reconstructionKey' | 'thumbnailKey' | 'overlayKey'
> & {
  images: { original: string; heatmap: string; reconstruction: string | null; thumbnail: string } | null;
};

/** Times of each stage (ms), for the benchmark's "which stage bounds throughput". */
export interface StageTimes {
  read: number;
  decode: number;
  score: number;
  write: number;
}

/** Disk full / read-only / quota on the data dir: nothing is committed and the file is retried later. */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}

const STORAGE_CODES = new Set(['ENOSPC', 'EROFS', 'EDQUOT', 'EIO']);
export function isStorageFailure(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? '';
  return STORAGE_CODES.has(code) || /SQLITE_FULL|database or disk is full|disk I\/O error/i.test(String(e));
}

export interface ReadResult {
  size: number;
  mtimeMs: number;
  bytes?: Uint8Array;
  sha256: string;
  error?: string;
}

function readReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file deleted before it could be read';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied: the station cannot read this file';
  if (code === 'ELOOP') return 'symbolic link loop: the link never reaches a file';
  if (code === 'EISDIR') return 'a folder, not a file';
  return `cannot read file: ${(e as Error).message}`;
}

const EMPTY_SHA = createHash('sha256').digest('hex');

/** Stat and read a file once (hash and decode share the bytes). Read failures are described, not thrown. */
export async function readCameraFile(file: string): Promise<ReadResult> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    return { size: 0, mtimeMs: 0, sha256: EMPTY_SHA, error: readReason(e) };
  }
  if (!st.isFile())
    return { size: st.size, mtimeMs: st.mtimeMs, sha256: EMPTY_SHA, error: 'not a regular file' };
  try {
    const bytes = await readFile(file);
    return {
      size: st.size,
      mtimeMs: st.mtimeMs,
      bytes,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
  } catch (e) {
    return { size: st.size, mtimeMs: st.mtimeMs, sha256: EMPTY_SHA, error: readReason(e) };
  }
}

function thresholdOf(meta: ModelMeta, override: number | null): number | null {
  return override ?? meta.calibration?.threshold ?? null;
}

/**
 * Score one file that was already read. Returns the row to commit; image problems give an `error` row,
 * storage problems throw StorageError.
 */
export async function inspect(
  ctx: LineContext,
  file: string,
  read: ReadResult,
  receivedAt: Date,
  store: ArtifactStore,
  times?: StageTimes,
): Promise<InspectionRecord> {
  const base = {
    lineId: ctx.lineId,
    modelId: ctx.modelId,
    modelVersion: ctx.modelVersion,
    filePath: file,
    fileSize: read.size,
    fileMtimeMs: read.mtimeMs,
    sha256: read.sha256,
    receivedAt: receivedAt.toISOString(),
    engine: ctx.model.engine,
  };
  const errorRow = (text: string, decodeMs: number | null = null): InspectionRecord => ({
    ...base,
    scoredAt: new Date().toISOString(),
    decodeMs,
    scoreMs: null,
    rawScore: null,
    normalizedScore: null,
    threshold: thresholdOf(ctx.model.meta, ctx.thresholdOverride),
    verdict: 'error',
    errorText: text,
    images: null,
  });
  if (read.error || !read.bytes) return errorRow(read.error ?? 'no data');

  const t0 = performance.now();
  let sample;
  try {
    sample = await decodeImage(read.bytes, file, ctx.model.load);
  } catch (e) {
    return errorRow(e instanceof ImageError ? e.message : String(e), performance.now() - t0);
  }
  const decodeMs = performance.now() - t0;
  if (times) times.decode += decodeMs;

  const t1 = performance.now();
  let scored;
  try {
    scored = await ctx.scorer.score(sample);
  } catch (e) {
    if (e instanceof ScorerUnavailableError) throw e; // retried by the station with a fresh worker
    return errorRow((e as Error).message, decodeMs);
  }
  const scoreMs = performance.now() - t1;
  if (times) times.score += scoreMs;

  const meta = ctx.model.meta;
  const cal: Calibration | undefined = meta.calibration;
  const threshold = thresholdOf(meta, ctx.thresholdOverride);
  const raw = scored.score;
  const verdict: 'pass' | 'flag' | 'error' = !Number.isFinite(raw)
    ? 'error'
    : cal
      ? judge(raw, cal, ctx.thresholdOverride ?? undefined)
      : threshold !== null && raw > threshold
        ? 'flag'
        : 'pass';

  const t2 = performance.now();
  let images: InspectionRecord['images'];
  try {
    images = await writeImages(store, sample, scored, meta);
  } catch (e) {
    if (isStorageFailure(e))
      throw new StorageError(`cannot write to the data dir: ${(e as Error).message}`, { cause: e });
    throw e;
  }
  if (times) times.write += performance.now() - t2;

  return {
    ...base,
    scoredAt: new Date().toISOString(),
    decodeMs,
    scoreMs: scored.ms,
    rawScore: Number.isFinite(raw) ? raw : null,
    normalizedScore:
      cal && Number.isFinite(raw) ? normalisedAgainst(raw, cal, threshold ?? cal.threshold) : null,
    threshold,
    verdict,
    errorText: verdict === 'error' ? `the model returned a non-finite score (${raw})` : null,
    images,
  };
}

/**
 * The PNGs an operator sees, at the resolution the model judged (the map's): the image as the model saw
 * it, the colour heatmap, the reconstruction (or nearest good training image) and a thumbnail. The overlay (heatmap blended over the image)
 * is not written per image: it is rendered from these two when someone asks for it (renderOverlay), which
 * keeps PNG encoding off the hot path (bench:station).
 */
async function writeImages(
  store: ArtifactStore,
  sample: { data: Uint8Array; width: number; height: number; channels: 1 | 3 },
  scored: {
    map: Float32Array;
    width: number;
    height: number;
    reconstruction?: Float32Array;
    reference?: Uint8Array;
  },
  meta: ModelMeta,
): Promise<NonNullable<InspectionRecord['images']>> {
  const { width, height, channels } = sample;
  const vmax = meta.heatmap?.vmax ?? Math.max(1e-6, ...scored.map);
  const heat = heatmapRgba(scored.map, scored.width, scored.height, { vmin: meta.heatmap?.vmin ?? 0, vmax });
  const [original, heatmap, thumbnail, recon] = await Promise.all([
    encodePng(sample.data, width, height, channels),
    encodePng(heat, scored.width, scored.height, 4),
    thumbnailPng(sample.data, width, height, channels),
    // The third pane: the reconstruction, or for memory-bank methods the nearest good training image (a PNG
    // the scoring worker already made; the same reference is stored once however many parts show it).
    scored.reconstruction
      ? encodePng(unitToBytes(scored.reconstruction), scored.width, scored.height, channels)
      : scored.reference,
  ]);
  return {
    original: await store.put(original),
    heatmap: await store.put(heatmap),
    reconstruction: recon ? await store.put(recon) : null,
    thumbnail: await store.put(thumbnail),
  };
}

/** The heatmap blended over the image at `opacity` (what the review screen shows by default), as PNG. */
export async function renderOverlay(original: Buffer, heatmap: Buffer, opacity = 0.5): Promise<Buffer> {
  const base = await sharp(original)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height } = base.info;
  const heat = await sharp(heatmap).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  const out = new Uint8ClampedArray(width * height * 3);
  for (let i = 0; i < out.length; i++) out[i] = (1 - opacity) * base.data[i] + opacity * heat[i];
  return encodePng(out, width, height, 3);
}
