// Scoring images the way a model was trained: whole images resized to the network input, or tiled patches
// stitched back to the working resolution. Everything that scores (calibration, eval, the CLI, the station)
// goes through here so a model scores identically wherever it runs.
import type { ScoringEngine } from './engine';
import { toImageBatch, type ImageSample } from './data';
import { scorePatched, type PatchStatistic } from './patch';

export interface InputSpec {
  mode: 'resize' | 'patch' | 'native';
  size: number;
  stride?: number;
  statistic?: PatchStatistic;
}

/**
 * The size an image is judged at in native mode: `scale` x its own size (the same texture scale for every
 * image from one camera), enlarged if its shorter side would be under `minSide` (tiny images: the backbone
 * needs room), then shrunk if its longer side would be over `maxSide` (0 = no cap). Aspect ratio kept.
 */
export function workingDimensions(
  width: number,
  height: number,
  o: { scale: number; minSide: number; maxSide: number },
): [number, number] {
  let f = o.scale;
  if (Math.min(width, height) * f < o.minSide) f = o.minSide / Math.min(width, height);
  if (o.maxSide > 0 && Math.max(width, height) * f > o.maxSide) f = o.maxSide / Math.max(width, height);
  return [Math.max(1, Math.round(width * f)), Math.max(1, Math.round(height * f))];
}

export interface ScoredImage {
  score: number;
  /** Residual map (width*height) when asked for: network size in resize mode, the image's own (working)
   * resolution in patch and native mode. */
  map?: Float32Array;
  width: number;
  height: number;
  /** Patch mode: the detector's raw score of every tile (lets eval compare image statistics). */
  patchScores?: Float32Array;
  /** [0,1] HWC reconstruction (resize mode only). */
  reconstruction?: Float32Array;
  /** Mean |x - x_hat| in [0,1] units (resize mode), the mean anomaly map value (native mode). */
  error?: number;
  /** Memory-bank methods: the training image (reference index) this one looks most like. */
  nearest?: number;
}

export interface ScoreImagesOptions {
  maps?: boolean;
  reconstructions?: boolean;
  batchSize?: number;
  /** Called after each batch / image with the number done. */
  onProgress?: (done: number) => void;
}

export async function scoreImages(
  engine: ScoringEngine,
  images: ImageSample[],
  input: InputSpec,
  opts: ScoreImagesOptions = {},
): Promise<ScoredImage[]> {
  const out: ScoredImage[] = [];
  if (input.mode === 'patch') {
    for (const img of images) {
      const r = await scorePatched(engine, img, {
        size: input.size,
        stride: input.stride,
        statistic: input.statistic,
        batchSize: opts.batchSize,
      });
      out.push({
        score: r.score,
        map: opts.maps ? r.map : undefined,
        patchScores: r.patchScores,
        width: img.width,
        height: img.height,
      });
      opts.onProgress?.(out.length);
    }
    return out;
  }
  if (input.mode === 'native') {
    // Every image at its own size: one per forward pass (the feature methods loop over images anyway).
    for (const img of images) {
      const r = await engine.score(toImageBatch([img]), { maps: opts.maps });
      out.push({
        score: r.scores[0],
        map: r.maps?.[0],
        width: img.width,
        height: img.height,
        error: r.reconstructionErrors[0],
        nearest: r.nearest?.[0],
      });
      opts.onProgress?.(out.length);
    }
    return out;
  }
  const batchSize = opts.batchSize ?? 32;
  for (let i = 0; i < images.length; i += batchSize) {
    const chunk = images.slice(i, i + batchSize);
    const r = await engine.score(toImageBatch(chunk), {
      maps: opts.maps,
      reconstructions: opts.reconstructions,
    });
    chunk.forEach((_, k) =>
      out.push({
        score: r.scores[k],
        map: r.maps?.[k],
        width: input.size,
        height: input.size,
        reconstruction: r.reconstructions?.[k],
        error: r.reconstructionErrors[k],
      }),
    );
    opts.onProgress?.(out.length);
  }
  return out;
}
