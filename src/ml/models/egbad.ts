// EGBAD (Zenati et al., "Efficient GAN-Based Anomaly Detection", 2018): a BiGAN (Donahue et al. 2017) that
// learns an encoder E: x -> z jointly with the generator G: z -> x, against a discriminator D(x, z) of pairs.
// Score A(x) = alpha * L_G(x) + (1 - alpha) * L_D(x), with L_G = ||x - G(E(x))||_1 and L_D either the
// sigmoid cross-entropy of D(x, E(x)) against "real" ('ce') or the feature-matching distance
// ||f_D(x, E(x)) - f_D(G(E(x)), E(x))||_1 ('fm'); alpha 0.9 is the paper's weight 0.1 on L_D.
import * as tf from '@tensorflow/tfjs';
import type { EgbadConfig, ScoreBatch, ScoreOptions, StepLosses } from './types';
import { buildDecoder, buildEncoder, buildJointDiscriminator, SeedSequence } from './networks';
import {
  adam,
  bceWithLogits,
  bcePerExample,
  minimizeWithParts,
  GanDetector,
  trainableVars,
  readScoreBatch,
  scoreTensors,
} from './common';

export const EGBAD_DEFAULTS: Omit<EgbadConfig, 'size' | 'channels'> = {
  method: 'egbad',
  latent: 100,
  ngf: 64,
  ndf: 64,
  lr: 2e-4,
  beta1: 0.5,
  seed: 42,
  heatmapSigma: 1,
  alpha: 0.9,
  dLoss: 'fm',
};

export class Egbad extends GanDetector {
  readonly encoder: tf.LayersModel;
  readonly generator: tf.LayersModel;
  readonly discriminator: tf.LayersModel;
  private readonly optGE: tf.AdamOptimizer;
  private readonly optD: tf.AdamOptimizer;
  private step = 0;

  constructor(
    readonly config: EgbadConfig,
    nets?: Record<string, tf.LayersModel>,
  ) {
    super();
    const { size, channels, ngf, ndf, latent } = config;
    const seeds = new SeedSequence(config.seed);
    this.encoder = nets?.encoder ?? buildEncoder('encoder', size, channels, ngf, latent, seeds);
    this.generator = nets?.generator ?? buildDecoder('generator', size, channels, ngf, latent, seeds);
    this.discriminator =
      nets?.discriminator ?? buildJointDiscriminator('discriminator', size, channels, ndf, latent, seeds);
    this.optGE = adam(config.lr, config.beta1);
    this.optD = adam(config.lr, config.beta1);
  }

  protected get optimizers(): Record<string, tf.Optimizer> {
    return { ge: this.optGE, d: this.optD };
  }

  networks(): Record<string, tf.LayersModel> {
    return { encoder: this.encoder, generator: this.generator, discriminator: this.discriminator };
  }

  private d(x: tf.Tensor, z: tf.Tensor, training: boolean): [tf.Tensor, tf.Tensor] {
    return this.discriminator.apply([x, z], { training }) as [tf.Tensor, tf.Tensor];
  }

  trainStep(x: tf.Tensor4D): StepLosses {
    this.step += 1;
    const n = x.shape[0];
    const z = tf.randomNormal([n, 1, 1, this.config.latent], 0, 1, 'float32', this.config.seed + this.step);
    try {
      // D: real pairs (x, E(x)) -> 1, generated pairs (G(z), z) -> 0.
      const d = minimizeWithParts(this.optD, trainableVars(this.discriminator), () => {
        const zHat = this.encoder.apply(x, { training: true }) as tf.Tensor;
        const xGen = this.generator.apply(z, { training: true }) as tf.Tensor;
        const total = bceWithLogits(this.d(x, zHat, true)[0], 1).add(
          bceWithLogits(this.d(xGen, z, true)[0], 0),
        ) as tf.Scalar;
        return { total, parts: { d: total } };
      });
      // G and E fool D with the labels swapped (BiGAN's inverted objective).
      const ge = minimizeWithParts(this.optGE, trainableVars(this.encoder, this.generator), () => {
        const zHat = this.encoder.apply(x, { training: true }) as tf.Tensor;
        const xGen = this.generator.apply(z, { training: true }) as tf.Tensor;
        const lossG = bceWithLogits(this.d(xGen, z, true)[0], 1);
        const lossE = bceWithLogits(this.d(x, zHat, true)[0], 0);
        return { total: lossG.add(lossE) as tf.Scalar, parts: { g: lossG, e: lossE } };
      });
      return { ...d, ...ge };
    } finally {
      z.dispose();
    }
  }

  async score(x: tf.Tensor4D, opts: ScoreOptions = {}): Promise<ScoreBatch> {
    const { alpha, dLoss, heatmapSigma } = this.config;
    const out = tf.tidy(() => {
      const zHat = this.encoder.apply(x, { training: false }) as tf.Tensor;
      const xHat = this.generator.apply(zHat, { training: false }) as tf.Tensor4D;
      const n = x.shape[0];
      const lG = tf.abs(tf.sub(x, xHat)).reshape([n, -1]).sum(1);
      const [logitReal, featReal] = this.d(x, zHat, false);
      let lD: tf.Tensor;
      if (dLoss === 'ce') {
        lD = bcePerExample(logitReal, 1);
      } else {
        const featRec = this.d(xHat, zHat, false)[1];
        lD = tf.abs(tf.sub(featReal, featRec)).reshape([n, -1]).sum(1);
      }
      const scores = lG.mul(alpha).add(lD.mul(1 - alpha));
      return scoreTensors(x, xHat, scores, opts, heatmapSigma);
    });
    return readScoreBatch(out);
  }
}
