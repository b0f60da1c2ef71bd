// AnoGAN (Schlegl et al., IPMI 2017): a DCGAN trained on good images; at scoring time each image gets its own
// latent search: Gamma steps (default 500) of gradient descent on z minimising
// (1 - lambda) * ||x - G(z)||_1 + lambda * ||f(x) - f(G(z))||_1 (f = discriminator features, lambda 0.1).
// The final loss is the anomaly score and G(z*) the reconstruction. The search makes it by far the slowest
// method to score (see the benchmark); images of a batch are searched in parallel, each with its own z.
import * as tf from '@tensorflow/tfjs';
import type { AnoganConfig, ScoreBatch, ScoreOptions, StepLosses } from './types';
import { buildDecoder, buildImageDiscriminator, SeedSequence } from './networks';
import {
  adam,
  bceWithLogits,
  minimizeWithParts,
  GanDetector,
  trainableVars,
  readScoreBatch,
  scoreTensors,
  mean,
} from './common';

export const ANOGAN_DEFAULTS: Omit<AnoganConfig, 'size' | 'channels'> = {
  method: 'anogan',
  latent: 100,
  ngf: 64,
  ndf: 64,
  lr: 2e-4,
  beta1: 0.5,
  seed: 42,
  heatmapSigma: 1,
  searchSteps: 500,
  lambda: 0.1,
  searchLr: 0.01,
};

export class Anogan extends GanDetector {
  readonly generator: tf.LayersModel;
  readonly discriminator: tf.LayersModel;
  private readonly optG: tf.AdamOptimizer;
  private readonly optD: tf.AdamOptimizer;
  private step = 0;

  constructor(
    readonly config: AnoganConfig,
    nets?: Record<string, tf.LayersModel>,
  ) {
    super();
    const { size, channels, ngf, ndf, latent } = config;
    const seeds = new SeedSequence(config.seed);
    this.generator = nets?.generator ?? buildDecoder('generator', size, channels, ngf, latent, seeds);
    this.discriminator =
      nets?.discriminator ?? buildImageDiscriminator('discriminator', size, channels, ndf, seeds);
    this.optG = adam(config.lr, config.beta1);
    this.optD = adam(config.lr, config.beta1);
  }

  protected get optimizers(): Record<string, tf.Optimizer> {
    return { g: this.optG, d: this.optD };
  }

  networks(): Record<string, tf.LayersModel> {
    return { generator: this.generator, discriminator: this.discriminator };
  }

  trainStep(x: tf.Tensor4D): StepLosses {
    this.step += 1;
    const z = tf.randomNormal(
      [x.shape[0], 1, 1, this.config.latent],
      0,
      1,
      'float32',
      this.config.seed + this.step,
    );
    try {
      const d = minimizeWithParts(this.optD, trainableVars(this.discriminator), () => {
        const fake = this.generator.apply(z, { training: true }) as tf.Tensor;
        const real = (this.discriminator.apply(x, { training: true }) as tf.Tensor[])[0];
        const gen = (this.discriminator.apply(fake, { training: true }) as tf.Tensor[])[0];
        const total = bceWithLogits(real, 1).add(bceWithLogits(gen, 0)) as tf.Scalar;
        return { total, parts: { d: total } };
      });
      // Non-saturating generator loss (DCGAN).
      const g = minimizeWithParts(this.optG, trainableVars(this.generator), () => {
        const fake = this.generator.apply(z, { training: true }) as tf.Tensor;
        const total = bceWithLogits(
          (this.discriminator.apply(fake, { training: true }) as tf.Tensor[])[0],
          1,
        );
        return { total, parts: { g: total } };
      });
      return { ...d, ...g };
    } finally {
      z.dispose();
    }
  }

  /** Per-image search loss [N] for latent codes z (inference mode: BatchNorm uses moving statistics). */
  private searchLoss(
    x: tf.Tensor4D,
    featX: tf.Tensor,
    z: tf.Tensor,
  ): { perImage: tf.Tensor1D; xHat: tf.Tensor4D } {
    const n = x.shape[0];
    const xHat = this.generator.apply(z, { training: false }) as tf.Tensor4D;
    const featHat = (this.discriminator.apply(xHat, { training: false }) as tf.Tensor[])[1];
    const lR = tf.abs(tf.sub(x, xHat)).reshape([n, -1]).sum(1);
    const lD = tf.abs(tf.sub(featX, featHat)).reshape([n, -1]).sum(1);
    const { lambda } = this.config;
    return { perImage: lR.mul(1 - lambda).add(lD.mul(lambda)) as tf.Tensor1D, xHat };
  }

  /** The latent search; `steps` defaults to the configured Gamma. Returns z* (caller disposes). Starts from
   * the same seeded z every time, so an image scores the same on every call. */
  searchLatent(x: tf.Tensor4D, steps = this.config.searchSteps): tf.Variable {
    const n = x.shape[0];
    const z = tf.tidy(() =>
      tf.variable(
        tf.randomNormal([n, 1, 1, this.config.latent], 0, 1, 'float32', this.config.seed * 31),
        true,
      ),
    );
    const featX = tf.tidy(() => (this.discriminator.apply(x, { training: false }) as tf.Tensor[])[1]);
    const opt = tf.train.adam(this.config.searchLr, 0.9, 0.999);
    try {
      for (let i = 0; i < steps; i++) {
        // Summing the per-image losses keeps each image's gradient its own (no BatchNorm coupling in inference).
        const cost = opt.minimize(() => this.searchLoss(x, featX, z).perImage.sum() as tf.Scalar, false, [z]);
        cost?.dispose();
      }
    } finally {
      featX.dispose();
      opt.dispose();
    }
    return z;
  }

  async score(x: tf.Tensor4D, opts: ScoreOptions = {}): Promise<ScoreBatch> {
    return this.scoreWithSteps(x, this.config.searchSteps, opts);
  }

  private async scoreWithSteps(x: tf.Tensor4D, steps: number, opts: ScoreOptions): Promise<ScoreBatch> {
    const z = this.searchLatent(x, steps);
    const out = tf.tidy(() => {
      const featX = (this.discriminator.apply(x, { training: false }) as tf.Tensor[])[1];
      const { perImage: scores, xHat } = this.searchLoss(x, featX, z);
      return scoreTensors(x, xHat, scores, opts, this.config.heatmapSigma);
    });
    z.dispose();
    return readScoreBatch(out);
  }

  /** A short search (50 steps) is enough to rank epochs; the full Gamma is for scoring. */
  override async validationLoss(x: tf.Tensor4D): Promise<number> {
    const r = await this.scoreWithSteps(x, Math.min(50, this.config.searchSteps), {});
    return mean(r.reconstructionErrors);
  }
}
