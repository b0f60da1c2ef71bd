// Evaluate a model on a labelled MVTec-layout test set: image AUROC / AUPRC, F1 and false-alarm rate at the
// model's CALIBRATED threshold (fixed at training time, never fitted here), pixel AUROC against the masks,
// overall and per defect type (each type against test/good).
import { performance } from 'node:perf_hooks';
import {
  auprc,
  auroc,
  quantile,
  f1AtThreshold,
  PATCH_STATISTICS,
  patchImageScore,
  perRegionOverlap,
  pixelAuroc,
  scoreImages,
  TfjsEngine,
  type ScoringEngine,
} from '../../ml';
import { mvtecTestSet } from '../io/datasets';
import { loadImages, loadMask } from '../io/images';
import type { LoadedModel } from '../io/model-store';

export interface EvalRow {
  type: string;
  images: number;
  auroc: number;
  auprc: number;
  f1: number;
  precision: number;
  recall: number;
  pixelAuroc: number;
  /** Per-region overlap integrated to 30 % false-positive rate (Bergmann et al. 2020); NaN without masks. */
  pro: number;
}

export interface EvalReport {
  model: string;
  method: string;
  data: string;
  backend: string;
  /** The scoring engine, e.g. "onnxruntime-node 1.30.0 (cpu, 1 thread)". */
  engine: string;
  threshold: number;
  overall: EvalRow;
  falseAlarmRate: number;
  perType: EvalRow[];
  goodImages: number;
  skipped: { file: string; reason: string }[];
  scoringImagesPerSecond: number;
  /** Patch mode: image AUROC of every image statistic on the same tiles (how the default was chosen). */
  patchStatisticAuroc?: Record<string, number>;
  /**
   * Resize and native mode: image AUROC of other scores from the same forward pass (the method's own score, the
   * mean reconstruction error or map value, the map's max and 99th percentile): what another image statistic
   * would give, measured without training anything else. Reported, never used to choose a setting.
   */
  scoreAlternativesAuroc?: Record<string, number>;
  scores: { file: string; type: string; score: number }[];
}

export interface EvaluateOptions {
  backend: string;
  /** The engine to score with (the station's choice: ONNX Runtime after its parity check); default tfjs. */
  engine?: ScoringEngine;
  /** Pixel AUROC needs the residual maps; off saves time and memory. Default true. */
  pixel?: boolean;
  /** Use at most this many images per test folder (the first by name): a quick, documented subset. */
  maxPerType?: number;
  onPhase?: (phase: string, total?: number) => void;
  onProgress?: (done: number) => void;
}

function row(
  type: string,
  scores: number[],
  labels: number[],
  threshold: number,
  maps: Float32Array[],
  masks: Uint8Array[],
  widths: number[],
): EvalRow {
  const f = f1AtThreshold(scores, labels, threshold);
  return {
    type,
    images: scores.length,
    auroc: auroc(scores, labels),
    auprc: auprc(scores, labels),
    f1: f.f1,
    precision: f.precision,
    recall: f.recall,
    pixelAuroc: maps.length ? pixelAuroc(maps, masks) : NaN,
    pro: maps.length ? perRegionOverlap(maps, masks, widths) : NaN,
  };
}

export async function evaluateModel(
  model: LoadedModel,
  modelName: string,
  dataDir: string,
  o: EvaluateOptions,
): Promise<EvalReport> {
  const { meta, detector } = model;
  if (!meta.calibration)
    throw new Error(`model ${modelName} has no calibration; train it with the station to calibrate it`);
  const threshold = meta.calibration.threshold;
  let tests = await mvtecTestSet(dataDir);
  if (o.maxPerType) {
    const seen = new Map<string, number>();
    tests = tests.filter((t) => {
      const n = (seen.get(t.type) ?? 0) + 1;
      seen.set(t.type, n);
      return n <= o.maxPerType!;
    });
  }
  const { input, load } = model;
  o.onPhase?.('loading test images', tests.length);
  const loaded = await loadImages(
    tests.map((t) => t.file),
    load,
    o.onProgress,
  );
  const byFile = new Map(tests.map((t) => [t.file, t]));
  const wantPixel = o.pixel !== false && tests.some((t) => t.mask);

  o.onPhase?.('scoring', loaded.samples.length);
  const t0 = performance.now();
  const engine = o.engine ?? new TfjsEngine(detector);
  // Resize-mode maps are small and computed in the same pass anyway: always take them for the alternatives.
  const scored = await scoreImages(engine, loaded.samples, input, {
    maps: wantPixel || input.mode === 'resize',
    onProgress: o.onProgress,
  });
  const seconds = (performance.now() - t0) / 1000;

  let patchStatisticAuroc: Record<string, number> | undefined;
  if (input.mode === 'patch' && wantPixel) {
    const labels = loaded.files.map((f) => byFile.get(f)!.label);
    patchStatisticAuroc = Object.fromEntries(
      PATCH_STATISTICS.map((st) => [
        st,
        auroc(
          scored.map((s) => patchImageScore(st, s.patchScores!, s.map!)),
          labels,
        ),
      ]),
    );
  }
  let scoreAlternativesAuroc: Record<string, number> | undefined;
  if (input.mode === 'resize' || (input.mode === 'native' && wantPixel)) {
    const labels = loaded.files.map((f) => byFile.get(f)!.label);
    const alt: Record<string, (s: (typeof scored)[number]) => number> = {
      [meta.method]: (s) => s.score,
      [input.mode === 'native' ? 'map-mean' : 'reconstruction-error']: (s) => s.error ?? NaN,
      'map-max': (s) => s.map!.reduce((a, b) => Math.max(a, b), -Infinity),
      'map-p99': (s) => quantile(s.map!, 0.99),
    };
    scoreAlternativesAuroc = Object.fromEntries(
      Object.entries(alt).map(([k, f]) => [k, auroc(scored.map(f), labels)]),
    );
  }
  const items = loaded.files.map((file, i) => ({
    ...byFile.get(file)!,
    score: scored[i].score,
    map: scored[i].map,
    w: scored[i].width,
    h: scored[i].height,
  }));
  // Pixel AUROC: every test image's map against its mask (good images have all-zero masks).
  const masks = new Map<string, Uint8Array>();
  if (wantPixel) {
    o.onPhase?.('reading masks');
    for (const it of items)
      masks.set(it.file, it.mask ? await loadMask(it.mask, it.w, it.h) : new Uint8Array(it.w * it.h));
  }
  const build = (type: string, subset: typeof items) =>
    row(
      type,
      subset.map((s) => s.score),
      subset.map((s) => s.label),
      threshold,
      wantPixel ? subset.map((s) => s.map!) : [],
      wantPixel ? subset.map((s) => masks.get(s.file)!) : [],
      subset.map((s) => s.w),
    );
  const good = items.filter((s) => s.label === 0);
  const types = [...new Set(items.filter((s) => s.label === 1).map((s) => s.type))].sort();
  const goodFlagged = good.filter((s) => s.score > threshold).length;
  return {
    model: modelName,
    method: meta.method,
    data: dataDir,
    backend: o.backend,
    engine: engine.description,
    threshold,
    overall: build('all', items),
    falseAlarmRate: good.length ? goodFlagged / good.length : NaN,
    perType: types.map((t) => build(t, [...good, ...items.filter((s) => s.type === t)])),
    goodImages: good.length,
    skipped: loaded.errors,
    scoringImagesPerSecond: loaded.samples.length / seconds,
    patchStatisticAuroc,
    scoreAlternativesAuroc,
    scores: items.map((s) => ({ file: s.file, type: s.type, score: s.score })),
  };
}
