// GANomaly fusion: the station's recommended default. A GANomaly (ganomaly.ts, trained exactly as the paper)
// whose image score adds two nearest-neighbour distances to the paper's latent gap and the reconstruction
// error. After training, the training images' generator-encoder latents and discriminator features are kept
// as memory banks; an image's kNN score is its mean cosine distance to the k nearest bank rows (Bergman,
// Cohen, Hoshen 2020, "Deep Nearest Neighbor Anomaly Detection": kNN on learned features beats the
// detector's own score). The four scores live on different scales, so each is standardised by its mean and
// standard deviation on HELD-OUT good images (the validation split, never a test set) and the z-scores are
// summed. Why: on bench:fusion's ten Fashion-MNIST splits the latent gap alone gives 0.900 mean AUROC, the
// sum of the four 0.940 (bench/results/fusion.md); the heatmap is GANomaly's residual map, unchanged.
// A bank is a bias-free Dense layer whose kernel holds the unit-normalised features, one column per training
// image, so it is saved, loaded and checked like every other network.
import * as tf from '@tensorflow/tfjs';
import { toBatch, type ImageSample } from '../data';
import { reconstructionError } from '../residual';
import { Ganomaly, GANOMALY_DEFAULTS } from './ganomaly';
import { memoryBankNetwork, readScoreBatch, scoreTensors } from './common';
import type {
  Detector,
  FitOptions,
  GanomalyConfig,
  GanomalyFusionConfig,
  NamedTensor,
  ScoreBatch,
  ScoreOptions,
  StepLosses,
} from './types';

export const GANOMALY_FUSION_DEFAULTS: Omit<GanomalyFusionConfig, 'size' | 'channels'> = {
  ...GANOMALY_DEFAULTS,
  method: 'ganomaly-fusion',
  k: 5,
  bankSize: 1024,
};

/** The four scores, in this order, that the fused score standardises and sums. */
export const FUSION_COMPONENTS = ['latent', 'reconstruction', 'knn-latent', 'knn-discriminator'] as const;

export class GanomalyFusion implements Detector {
  readonly training = 'gradient' as const;
  readonly gan: Ganomaly;
  private bankLatent?: tf.LayersModel;
  private bankFeatures?: tf.LayersModel;
  private stats?: { mean: number[]; std: number[] };

  constructor(
    private readonly base: GanomalyFusionConfig,
    nets?: Record<string, tf.LayersModel>,
  ) {
    const { fusion: _f, k: _k, bankSize: _b, ...ganConfig } = base;
    this.gan = new Ganomaly({ ...ganConfig, method: 'ganomaly' } as GanomalyConfig, nets);
    this.bankLatent = nets?.bank_latent;
    this.bankFeatures = nets?.bank_discriminator;
    this.stats = base.fusion;
  }

  /** The config with the fitted statistics, so meta.json carries everything scoring needs. */
  get config(): GanomalyFusionConfig {
    return this.stats ? { ...this.base, fusion: this.stats } : this.base;
  }

  get fitted(): boolean {
    return !!(this.bankLatent && this.bankFeatures && this.stats);
  }

  networks(): Record<string, tf.LayersModel> {
    const banks: Record<string, tf.LayersModel> =
      this.bankLatent && this.bankFeatures
        ? { bank_latent: this.bankLatent, bank_discriminator: this.bankFeatures }
        : {};
    return { ...this.gan.networks(), ...banks };
  }

  trainStep(batch: tf.Tensor4D): StepLosses {
    return this.gan.trainStep(batch);
  }

  validationLoss(batch: tf.Tensor4D): Promise<number> {
    return this.gan.validationLoss(batch);
  }

  optimizerWeights(): Promise<NamedTensor[]> {
    return this.gan.optimizerWeights();
  }

  setOptimizerWeights(weights: NamedTensor[]): Promise<void> {
    return this.gan.setOptimizerWeights(weights);
  }

  /** Flattened latent and discriminator features (inference mode), plus the two GANomaly scores. */
  private forward(x: tf.Tensor4D) {
    const { latentI, xHat, latentO } = this.gan.infer(x);
    const feats = (this.gan.discriminator.apply(x, { training: false }) as tf.Tensor[])[1];
    const n = x.shape[0];
    return {
      xHat,
      latent: latentI.reshape([n, -1]) as tf.Tensor2D,
      features: feats.reshape([n, -1]) as tf.Tensor2D,
      latentGap: tf.squaredDifference(latentI, latentO).mean([1, 2, 3]) as tf.Tensor1D,
      reconstruction: reconstructionError(x, xHat),
    };
  }

  /** Mean cosine distance to the k nearest bank columns: the bank's Dense layer gives every cosine at once. */
  private knn(bank: tf.LayersModel, features: tf.Tensor2D): tf.Tensor1D {
    const unit = features.div(features.norm('euclidean', 1, true).add(1e-12));
    const sims = bank.apply(unit) as tf.Tensor2D;
    const k = Math.min(this.base.k, sims.shape[1]);
    return tf.scalar(1).sub(tf.topk(sims, k).values.mean(1)) as tf.Tensor1D;
  }

  /** The four component scores of a batch, [n, 4] (banks must exist; call inside a tidy). */
  private components(x: tf.Tensor4D): { xHat: tf.Tensor4D; parts: tf.Tensor2D } {
    const f = this.forward(x);
    const parts = tf.stack(
      [
        f.latentGap,
        f.reconstruction,
        this.knn(this.bankLatent!, f.latent),
        this.knn(this.bankFeatures!, f.features),
      ],
      1,
    ) as tf.Tensor2D;
    return { xHat: f.xHat, parts };
  }

  /**
   * After training: build the memory banks from the training images (at most bankSize, evenly spaced) and
   * standardise the four components on the held-out good images.
   */
  async fitGoodImages(
    train: ImageSample[],
    heldOut: ImageSample[],
    { batchSize }: FitOptions,
  ): Promise<void> {
    if (heldOut.length < 2)
      throw new Error('ganomaly-fusion needs held-out good images to standardise its scores (at least 2)');
    const step = Math.max(1, train.length / this.base.bankSize);
    const bankImages = Array.from(
      { length: Math.min(train.length, this.base.bankSize) },
      (_, i) => train[Math.floor(i * step)],
    );
    const latents: tf.Tensor2D[] = [];
    const features: tf.Tensor2D[] = [];
    for (let i = 0; i < bankImages.length; i += batchSize) {
      const x = toBatch(bankImages.slice(i, i + batchSize));
      const [l, d] = tf.tidy(() => {
        const f = this.forward(x);
        const unit = (m: tf.Tensor2D) => m.div(m.norm('euclidean', 1, true).add(1e-12));
        return [unit(f.latent), unit(f.features)];
      });
      x.dispose();
      latents.push(l as tf.Tensor2D);
      features.push(d as tf.Tensor2D);
    }
    this.disposeBanks();
    this.bankLatent = bankNetwork('bank_latent', latents);
    this.bankFeatures = bankNetwork('bank_discriminator', features);
    tf.dispose([...latents, ...features]);

    const rows: number[][] = [];
    for (let i = 0; i < heldOut.length; i += batchSize) {
      const x = toBatch(heldOut.slice(i, i + batchSize));
      const parts = tf.tidy(() => this.components(x).parts);
      x.dispose();
      rows.push(...(parts.arraySync() as number[][]));
      parts.dispose();
    }
    const mean = FUSION_COMPONENTS.map((_, j) => rows.reduce((a, r) => a + r[j], 0) / rows.length);
    // A component that does not vary on good images would divide by zero; it then counts in raw units.
    const std = FUSION_COMPONENTS.map((_, j) => {
      const sd = Math.sqrt(rows.reduce((a, r) => a + (r[j] - mean[j]) ** 2, 0) / rows.length);
      return sd > 1e-12 ? sd : 1;
    });
    this.stats = { mean, std };
  }

  /** The fused score; before fitGoodImages has run (mid-training) it is GANomaly's latent gap. */
  async score(x: tf.Tensor4D, opts: ScoreOptions = {}): Promise<ScoreBatch> {
    if (!this.fitted) return this.gan.score(x, opts);
    const out = tf.tidy(() => {
      const { xHat, z } = this.standardised(x);
      return scoreTensors(x, xHat, z.sum(1), opts, this.base.heatmapSigma);
    });
    return readScoreBatch(out);
  }

  /** The four components as z-scores against the held-out good images, [n, 4] (call inside a tidy). */
  private standardised(x: tf.Tensor4D): { xHat: tf.Tensor4D; z: tf.Tensor2D } {
    const { mean, std } = this.stats!;
    const { xHat, parts } = this.components(x);
    return { xHat, z: parts.sub(tf.tensor1d(mean)).div(tf.tensor1d(std)) };
  }

  /** The four standardised components per image, for explaining a score (the score is their sum). */
  async scoreComponents(x: tf.Tensor4D): Promise<number[][]> {
    if (!this.fitted) throw new Error('ganomaly-fusion has not been fitted to good images yet');
    const t = tf.tidy(() => this.standardised(x).z);
    const rows = t.arraySync() as number[][];
    t.dispose();
    return rows;
  }

  private disposeBanks(): void {
    this.bankLatent?.dispose();
    this.bankFeatures?.dispose();
    this.bankLatent = this.bankFeatures = undefined;
  }

  dispose(): void {
    this.gan.dispose();
    this.disposeBanks();
  }
}

/** The memory-bank network of n unit-normalised rows (concatenated, then stored as columns). */
function bankNetwork(name: string, rows: tf.Tensor2D[]): tf.LayersModel {
  const kernel = tf.tidy(() => tf.concat(rows, 0).transpose() as tf.Tensor2D);
  const model = memoryBankNetwork(name, kernel);
  kernel.dispose();
  return model;
}
