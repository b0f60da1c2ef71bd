// Train a model from a folder of good images (or an MVTec-layout set's train/good): split off held-out good
// images (half for early stopping / model selection, half for calibration), train with checkpoints so a
// run can be resumed, calibrate the threshold on the calibration half, and write the model folder.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import {
  calibrate,
  createDetector,
  DEFAULT_TARGET_FALSE_ALARM_RATE,
  DEFAULT_PATCH_STATISTIC,
  defaultConfig,
  detectorArtifacts,
  FORMAT_VERSION,
  PIXEL_SCALE,
  quantile,
  scoreImages,
  trainDetector,
  type BackendStatus,
  type Detector,
  FEATURE_METHODS,
  type ImageSample,
  type PatchcoreConfig,
  type DetectorConfig,
  type Method,
  type ModelMeta,
  type PatchStatistic,
  type TrainProgress,
  type TrainResult,
  TfjsEngine,
} from '../../ml';
import { bundledOnnxSource, exportOnnx, OnnxBackbone, onnxExportable } from '../../ml/onnx';
import { exportBackboneTaps } from '../../ml/onnx/feature-export';
import type { FeatureSource } from '../../ml/backbone/features';
import { availableParallelism } from 'node:os';
import { ONNX_BACKBONE, type BackboneNormalisation } from '../../ml/backbone';
import { readFile } from 'node:fs/promises';
import { loadBundledBackbone } from '../io/backbones';
import { calibrationSetWarning } from '../../common/calibration';
import { hashFiles, listImages, splitGoodImages, trainingImages } from '../io/datasets';
import { loadImages } from '../io/images';
import {
  inputHandling,
  loadCheckpoint,
  removeCheckpoint,
  saveCheckpoint,
  BACKBONE_ONNX_FILE,
  referenceFile,
  saveModel,
} from '../io/model-store';
import sharp from 'sharp';

export interface TrainModelOptions {
  data: string;
  out: string;
  method: Method;
  size: number;
  channels: 1 | 3;
  epochs: number;
  batchSize?: number;
  /** Feature methods: ONNX Runtime threads for extracting the training images' features (default: every core). */
  threads?: number;
  /** Patch mode: network input = patch side; images shrunk so the longer side is at most workingSize (0 = native). */
  patch?: { workingSize: number; stride?: number; statistic?: PatchStatistic; stepsPerEpoch?: number };
  /** Fraction of good images held out (half validation, half calibration). Default 0.2. */
  holdout?: number;
  targetFalseAlarmRate?: number;
  /** Optional folder of labelled defect images: calibration then picks the F1-optimal threshold. */
  defects?: string;
  patience?: number;
  overrides?: Partial<DetectorConfig>;
  resume?: boolean;
  /** Stop after this many training images (quick demos and tests). */
  limit?: number;
  backend: BackendStatus;
  signal?: AbortSignal;
  onPhase?: (phase: string, total?: number) => void;
  onLoadProgress?: (done: number) => void;
  onProgress?: (p: TrainProgress) => void;
  /**
   * Feature methods: an engineer's own backbone (an ONNX file taking one NCHW float image of any size and
   * giving the named feature maps) instead of the bundled one; copied into the model folder.
   */
  backboneOnnx?: { file: string; outputs: string[]; normalisation: BackboneNormalisation };
  /** Memory-bank methods: feature extraction and coreset progress. */
  onFitProgress?: (p: { phase: string; done: number; total: number }) => void;
  /** Told as soon as something is known the user should hear about (also returned in `warnings`). */
  onWarning?: (text: string) => void;
}

export interface TrainModelResult {
  meta: ModelMeta;
  result: TrainResult;
  skipped: { file: string; reason: string }[];
  /** E.g. too few held-out calibration images for the false-alarm target. */
  warnings: string[];
}

export async function trainModel(o: TrainModelOptions): Promise<TrainModelResult> {
  // Cheap checks first: a resume without a checkpoint fails before minutes of image loading.
  const saved = o.resume && existsSync(o.out) ? await loadCheckpoint(o.out) : undefined;
  if (o.resume && !saved) throw new Error(`nothing to resume: ${o.out} has no checkpoint`);
  // A resumed run continues the checkpoint's method, whatever the command line's default is.
  const savedConfig = saved?.extra.config as DetectorConfig | undefined;
  const method = savedConfig?.method ?? o.method;
  const size = savedConfig?.size ?? o.size;
  const channels = savedConfig?.channels ?? o.channels;
  if (o.patch && method === 'ganomaly-fusion')
    throw new Error(
      'ganomaly-fusion scores whole images and has no patch mode; choose --method ganomaly for patches',
    );
  const features = FEATURE_METHODS.includes(method);
  if (o.patch && features)
    throw new Error(
      `${method} judges each image whole at its own resolution (--size caps the longer side); it has no patch mode`,
    );
  let files = await trainingImages(o.data);
  if (o.limit) files = files.slice(0, o.limit);
  if (files.length < 10)
    throw new Error(`${o.data}: found ${files.length} images; training needs at least 10 good images`);
  const split = splitGoodImages(files, o.holdout);
  const valFiles = split.validation;
  const calFiles = split.calibration;

  if (o.backboneOnnx && !features)
    throw new Error(`an ONNX backbone is for the feature methods (patchcore), not ${method}`);
  const backboneBytes = o.backboneOnnx ? new Uint8Array(await readFile(o.backboneOnnx.file)) : undefined;
  const config: DetectorConfig =
    savedConfig ??
    defaultConfig(method, size, channels, {
      ...o.overrides,
      ...(o.backboneOnnx
        ? {
            backbone: ONNX_BACKBONE,
            layers: o.backboneOnnx.outputs,
            normalisation: o.backboneOnnx.normalisation,
          }
        : {}),
    } as Partial<DetectorConfig>);
  const onnxBackbone = backboneBytes
    ? await OnnxBackbone.create(backboneBytes, { ...o.backboneOnnx!, threads: o.threads ?? 2 })
    : undefined;
  const metaInput: ModelMeta['input'] = o.patch
    ? {
        mode: 'patch',
        size,
        channels,
        workingSize: o.patch.workingSize,
        stride: o.patch.stride ?? size / 2,
        statistic: o.patch.statistic ?? DEFAULT_PATCH_STATISTIC,
      }
    : features
      ? {
          mode: 'native',
          size,
          channels,
          scale: (config as PatchcoreConfig).scale,
          minSide: (config as PatchcoreConfig).minSide,
        }
      : { mode: 'resize', size, channels };
  const { input, load } = inputHandling(metaInput);
  o.onPhase?.('loading images', files.length);
  const all = await loadImages([...split.train, ...valFiles, ...calFiles], load, o.onLoadProgress);
  const skipped = all.errors;
  const pick = (set: string[]) => {
    const want = new Set(set);
    return all.samples.filter((_, i) => want.has(all.files[i]));
  };
  const train = pick(split.train);
  const val = pick(valFiles);
  const cal = pick(calFiles);
  if (train.length < 8)
    throw new Error(
      `only ${train.length} usable training images after skipping ${skipped.length} unreadable ones`,
    );
  if (cal.length < 10)
    throw new Error(
      `only ${cal.length} held-out calibration images; add more good images or raise --holdout`,
    );
  // Said before training, not after: a false-alarm target needs about 1/target calibration images.
  // (With labelled defects the threshold is F1-optimal instead and has no such target.)
  const warnings: string[] = [];
  const tooFew = o.defects
    ? null
    : calibrationSetWarning(cal.length, o.targetFalseAlarmRate ?? DEFAULT_TARGET_FALSE_ALARM_RATE);
  if (tooFew) {
    warnings.push(tooFew);
    o.onWarning?.(tooFew);
  }

  // The feature methods start from a pretrained backbone: the bundled one, read from its npm package (no
  // network), or the engineer's ONNX file, run by ONNX Runtime (opened before any image is loaded).
  // A bundled backbone extracts the training images' features on ONNX Runtime (its taps exported as a graph
  // of their own): the same weights, several times faster than tfjs-wasm.
  let fastTaps: { source: FeatureSource; dispose: () => Promise<void> } | undefined;
  let detector: Detector;
  if (onnxBackbone) detector = createDetector(config, undefined, onnxBackbone.source());
  else if (features) {
    const fc = config as PatchcoreConfig;
    const backbone = await loadBundledBackbone(fc.backbone);
    fastTaps = await bundledOnnxSource(
      exportBackboneTaps(backbone, fc.channels, fc.normalisation),
      o.threads ?? availableParallelism(),
    );
    detector = createDetector(config, { backbone }, fastTaps.source);
  } else detector = createDetector(config);
  const batchSize = o.batchSize ?? 32;
  try {
    o.onPhase?.(saved ? `resuming after epoch ${saved.checkpoint.epoch}` : 'training');
    const result = await trainDetector(detector, train, {
      epochs: o.epochs,
      batchSize,
      patchSize: o.patch ? size : undefined,
      stepsPerEpoch: o.patch?.stepsPerEpoch,
      validation: val,
      patience: o.patience,
      signal: o.signal,
      resume: saved?.checkpoint,
      onProgress: o.onProgress,
      onFitProgress: o.onFitProgress,
      onCheckpoint: (c) => saveCheckpoint(o.out, c, { config }),
    });
    if (result.cancelled)
      throw new Error(`training cancelled; resume with --resume (checkpoint in ${o.out}/checkpoint)`);

    o.onPhase?.('calibrating', cal.length);
    const calScored = await scoreImages(new TfjsEngine(detector), cal, input, { batchSize, maps: true });
    let defectScores: number[] | undefined;
    if (o.defects) {
      const defects = await loadImages(await listImages(o.defects), load);
      skipped.push(...defects.errors);
      if (!defects.samples.length) throw new Error(`no readable defect images in ${o.defects}`);
      defectScores = (await scoreImages(new TfjsEngine(detector), defects.samples, input, { batchSize })).map(
        (s) => s.score,
      );
    }
    const calibration = calibrate(
      calScored.map((s) => s.score),
      { targetFalseAlarmRate: o.targetFalseAlarmRate, defectScores },
    );
    const heatmap = heatmapScale(
      calScored.map((s) => s.map!),
      features ? calibration.threshold : undefined,
    );

    const meta: ModelMeta = {
      format: 'anomaly-station-model',
      formatVersion: FORMAT_VERSION,
      name: basename(o.out),
      createdAt: new Date().toISOString(),
      method: config.method,
      // The detector's config: ganomaly-fusion adds its fitted score statistics after training.
      config: detector.config as unknown as Record<string, unknown>,
      networks: Object.keys(detector.networks()),
      input: metaInput,
      normalisation: { pixels: 'uint8', range: PIXEL_SCALE.to },
      calibration,
      heatmap,
      training: {
        dataHash: await hashFiles(files),
        dataDir: o.data,
        images: train.length,
        validationImages: val.length,
        calibrationImages: cal.length,
        epochs: result.epochsRun,
        bestEpoch: result.bestEpoch,
        // Fitted methods have no epochs and so no validation loss.
        bestValidationLoss: Number.isFinite(result.bestValidationLoss)
          ? result.bestValidationLoss
          : undefined,
        seconds: result.seconds,
        backend: o.backend.name,
        batchSize,
      },
    };
    // GANomaly and EGBAD carry model.onnx. AnoGAN's latent search needs gradients and ganomaly-fusion's
    // kNN banks are not in the exported graph, so those two score on tfjs.
    const onnx = onnxExportable(config.method) ? exportOnnx(detector) : undefined;
    await saveModel(
      o.out,
      meta,
      await detectorArtifacts(detector),
      onnx,
      { good: calScored.map((s) => s.score), defect: defectScores ?? [] },
      {
        ...(await referenceImages(detector, train)),
        ...(backboneBytes ? { [BACKBONE_ONNX_FILE]: backboneBytes } : {}),
      },
    );
    await removeCheckpoint(o.out);
    return { meta, result, skipped, warnings };
  } finally {
    detector.dispose();
    await onnxBackbone?.dispose();
    await fastTaps?.dispose();
  }
}

/**
 * The heatmap's colour scale from held-out good images' maps (subsampled). Pixel residuals: 0 is cold, the
 * good pixels' 99.9th percentile is hot. Feature distances are never near 0 and their image score is the map's
 * 99th percentile, so there cold is the good pixels' 90th percentile (an ordinary surface shows blue) and hot
 * is the calibrated threshold (`flagAt`): red is at or above the level that flags a part when it covers 1% of
 * the image. (At very small working sizes the deep tap spans the image and a defect lifts much of the map
 * past it; the peak stays on the defect.)
 */
function heatmapScale(maps: Float32Array[], flagAt?: number): { vmin: number; vmax: number } {
  const n = maps.reduce((a, m) => a + m.length, 0);
  const step = Math.max(1, Math.floor(n / 2_000_000));
  const pool: number[] = [];
  for (const m of maps) for (let i = 0; i < m.length; i += step) pool.push(m[i]);
  if (flagAt === undefined) return { vmin: 0, vmax: Math.max(1e-6, quantile(pool, 0.999)) };
  const vmin = quantile(pool, 0.9);
  return { vmin, vmax: Math.max(flagAt, vmin + 1e-6) };
}

/** Longest side of the reference images a memory-bank model keeps (what Review shows beside a part). */
const REFERENCE_SIDE = 384;

/**
 * The training images a memory-bank model's rows came from, as small JPEGs (references/<index>.jpg): Review
 * shows the one a judged part looks most like. Only images the bank actually holds a row of are kept.
 */
async function referenceImages(d: Detector, train: ImageSample[]): Promise<Record<string, Uint8Array>> {
  const sources = (d.config as Partial<PatchcoreConfig>).bankSources;
  if (!sources) return {};
  const out: Record<string, Uint8Array> = {};
  for (const i of [...new Set(sources)].sort((a, b) => a - b)) {
    const s = train[i];
    out[referenceFile(i)] = await sharp(Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength), {
      raw: { width: s.width, height: s.height, channels: s.channels },
    })
      .resize(REFERENCE_SIDE, REFERENCE_SIDE, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 85 })
      .toBuffer();
  }
  return out;
}
