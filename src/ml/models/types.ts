// The one interface the station uses for every anomaly detector, and the records it returns.
import type * as tf from '@tensorflow/tfjs';
import type { ImageSample } from '../data';
import type { BackboneNormalisation } from '../backbone';

export type Method = 'patchcore' | 'ganomaly-features' | 'ganomaly-fusion' | 'ganomaly' | 'egbad' | 'anogan';
/** Every method; the first is the recommended default (see patchcore.ts and bench/results/detection.md for why). */
export const METHODS: readonly Method[] = [
  'patchcore',
  'ganomaly-features',
  'ganomaly-fusion',
  'ganomaly',
  'egbad',
  'anogan',
];
/** The methods that judge pretrained-backbone features (at the image's own resolution) rather than pixels. */
export const FEATURE_METHODS: readonly Method[] = ['patchcore', 'ganomaly-features'];
export const DEFAULT_METHOD: Method = METHODS[0];

/** Settings shared by every method; defaults are the papers' (see each model's file). */
export interface CommonConfig {
  method: Method;
  /** Network input side in pixels: 32, 64, 128 or 256 (DCGAN pyramids halve down to 4x4). */
  size: number;
  channels: 1 | 3;
  /** Latent size nz. Default 100 (GANomaly, DCGAN). */
  latent: number;
  /** Base feature maps of generator/encoder (ngf) and discriminator (ndf). Default 64. */
  ngf: number;
  ndf: number;
  /** Adam learning rate and beta1. Default 2e-4 / 0.5. */
  lr: number;
  beta1: number;
  /** Seed for weight initialisation, shuffling, crops and latent search starts. Default 42. */
  seed: number;
  /** Gaussian sigma (pixels of the network input) used to smooth the residual map. Default size/32. */
  heatmapSigma: number;
}

export interface GanomalyConfig extends CommonConfig {
  method: 'ganomaly';
  /** Loss weights: adversarial (feature matching) 1, contextual (L1) 50, encoder (L2) 1. */
  wAdv: number;
  wCon: number;
  wEnc: number;
}

export interface GanomalyFusionConfig extends Omit<GanomalyConfig, 'method'> {
  method: 'ganomaly-fusion';
  /** Nearest neighbours averaged in the kNN scores. Default 5 (DN2's choice, Bergman et al. 2020). */
  k: number;
  /** Most training images kept in each memory bank (evenly spaced over the training set). Default 1024. */
  bankSize: number;
  /** Held-out good images' mean and std of the four component scores; set when fitted after training. */
  fusion?: { mean: number[]; std: number[] };
}

export interface EgbadConfig extends CommonConfig {
  method: 'egbad';
  /** A(x) = alpha * L_G + (1 - alpha) * L_D. Default 0.9 (EGBAD's weight 0.1 on L_D). */
  alpha: number;
  /** L_D variant: sigmoid cross-entropy ('ce') or discriminator feature matching ('fm'). Default 'fm'. */
  dLoss: 'ce' | 'fm';
}

export interface AnoganConfig extends CommonConfig {
  method: 'anogan';
  /** Latent search steps Gamma (default 500), lambda weighting the discriminator loss (0.1), search lr (0.01). */
  searchSteps: number;
  lambda: number;
  searchLr: number;
}

/** What every feature method shares: how images are sized, and the backbone whose features it judges. */
export interface FeatureInputConfig {
  /** Images are judged at `scale` x the camera's resolution (aspect kept), so texture keeps one scale. */
  scale: number;
  /** ...enlarged so the shorter side is at least this (tiny images)... */
  minSide: number;
  /** ...and shrunk so the longer side is at most this (0 = no cap). */
  size: number;
  channels: 1 | 3;
  /** Seed of the random projection used to choose the coreset. Default 42. */
  seed: number;
  /** Gaussian sigma (pixels of the judged image) smoothing the anomaly map. Default 4 (PatchCore's). */
  heatmapSigma: number;
  /** Backbone id (src/ml/backbone), its tapped layers and input normalisation, as trained. */
  backbone: string;
  layers: string[];
  normalisation: BackboneNormalisation;
  /** Adjacent channels of every tap averaged into one (1: none); absent in older models = 1. */
  channelPool?: number;
}

/** PatchCore (Roth et al. 2022) on a pretrained backbone's features; see patchcore.ts. */
export interface PatchcoreConfig extends FeatureInputConfig {
  method: 'patchcore';
  /** Patches each training image contributes to the candidate pool (its own greedy coreset). Default 100. */
  perImage: number;
  /** Most rows in the memory bank (the greedy coreset of the candidates). Default 2000. */
  bankSize: number;
  /** Dimensions of the random projection the coreset is chosen in (PatchCore's, Johnson-Lindenstrauss). */
  projection: number;
  /** Set by fitting: the training image (index into the model's reference images) of every bank row. */
  bankSources?: number[];
  /** Set by fitting: how many training images the bank was chosen from (and extensions added). */
  trainImages?: number;
  /** Set by fitting: the coreset's covering radius in the projection (no candidate was farther from the bank). */
  coverage?: number;
}

/**
 * GANomaly on backbone features (see ganomaly-features.ts): the paper's encoder-decoder-encoder and
 * discriminator, as per-cell networks over the patch features; the feature-space residual is the map.
 */
export interface GanomalyFeaturesConfig extends FeatureInputConfig {
  method: 'ganomaly-features';
  /** Latent size and hidden width of the per-cell networks. Default 64 / 256. */
  latent: number;
  hidden: number;
  /** Loss weights as the paper: adversarial 1, contextual (L1) 50, encoder (L2) 1; Adam 2e-4 / 0.5. */
  wAdv: number;
  wCon: number;
  wEnc: number;
  lr: number;
  beta1: number;
  /** Epochs over the sampled feature vectors (best held-out epoch kept), batch size, cells per image. */
  epochs: number;
  batch: number;
  perImage: number;
  /** Set by fitting: the training features' per-dimension mean and std (inputs are standardised by them). */
  featureMean?: number[];
  featureStd?: number[];
  trainImages?: number;
}

export type DetectorConfig =
  | PatchcoreConfig
  | GanomalyFeaturesConfig
  | GanomalyFusionConfig
  | GanomalyConfig
  | EgbadConfig
  | AnoganConfig;

/** A tensor with a name (optimiser state, checkpoints); tfjs has this type but does not export it. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Losses of one training step, by name (e.g. { d: 0.69, g_adv: 0.1, g_con: 0.3, g_enc: 0.01 }). */
export type StepLosses = Record<string, number>;

/** What scoring a batch gives, image by image. */
export interface ScoreBatch {
  /** Raw anomaly score per image (higher = more anomalous); the method's own definition. */
  scores: Float32Array;
  /** Per-image mean absolute reconstruction error (the same for every method; used for model selection). */
  reconstructionErrors: Float32Array;
  /** Smoothed residual maps |x - x_hat| (channel mean), size*size each, row-major; when asked for. */
  maps?: Float32Array[];
  /** Reconstructions in [0, 1], size*size*channels each (HWC); when asked for (methods that reconstruct). */
  reconstructions?: Float32Array[];
  /**
   * Memory-bank methods: per image, the training image (index into the model's reference images) that most
   * of its patches found their nearest good patch in: the good part it looks most like, shown in Review.
   */
  nearest?: Int32Array;
}

/** How fitGoodImages runs: batch size, cancel, progress. */
export interface FitOptions {
  batchSize: number;
  signal?: AbortSignal;
  /** What is being done, how far (images or centres), of how many. */
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
}

export interface ScoreOptions {
  maps?: boolean;
  reconstructions?: boolean;
}

/**
 * A trainable anomaly detector. Batches are NHWC float32 tensors scaled to [-1, 1] (see data.ts).
 * Every method trains on good images only and scores in inference mode (BatchNorm moving statistics).
 */
export interface Detector {
  readonly config: DetectorConfig;
  /**
   * 'gradient': trained for epochs by trainStep (the GAN methods). 'fit': nothing to optimise; fitGoodImages
   * builds the model from the training images in one pass (memory banks: PatchCore).
   */
  readonly training: 'gradient' | 'fit';
  /** One optimisation step on a batch of good images; returns the losses. The batch is not disposed. */
  trainStep(batch: tf.Tensor4D): StepLosses;
  /** Score a batch (inference mode). The batch is not disposed. */
  score(batch: tf.Tensor4D, opts?: ScoreOptions): Promise<ScoreBatch>;
  /** The loss used for early stopping and model selection on held-out GOOD images (lower is better). */
  validationLoss(batch: tf.Tensor4D): Promise<number>;
  /** The networks by name, for saving and checkpoints. */
  networks(): Record<string, tf.LayersModel>;
  /** Optimiser state, for checkpoints and resume. */
  optimizerWeights(): Promise<NamedTensor[]>;
  setOptimizerWeights(weights: NamedTensor[]): Promise<void>;
  /**
   * For methods whose score needs more than weights (memory banks, score statistics): called once after
   * training with the training images and held-out good images (resize mode; never test images).
   */
  fitGoodImages?(train: ImageSample[], heldOut: ImageSample[], opts: FitOptions): Promise<void>;
  dispose(): void;
}
