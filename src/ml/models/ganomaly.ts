// GANomaly (Akcay, Atapour-Abarghouei, Breckon, ACCV 2018): an encoder-decoder-encoder generator
// (G_E -> G_D -> E) trained adversarially against a DCGAN discriminator D on good images only.
// Losses as the paper and its reference code: adversarial = L2 between D's features of x and of G(x)
// (w_adv 1), contextual = L1(x, G(x)) (w_con 50), encoder = L2(G_E(x), E(G(x))) (w_enc 1); D trained with
// binary cross-entropy and re-initialised when its loss collapses below 1e-5. Anomaly score: the latent
// distance mean((G_E(x) - E(G(x)))^2) (the squared L2 norm over nz, as in the reference code).
import * as tf from '@tensorflow/tfjs';
import type { GanomalyConfig, ScoreBatch, ScoreOptions, StepLosses } from './types';
import { buildDecoder, buildEncoder, buildImageDiscriminator, SeedSequence } from './networks';
import {
  adam,
  bceWithLogits,
  meanAbs,
  meanSquare,
  minimizeWithParts,
  GanDetector,
  trainableVars,
  readScoreBatch,
  scoreTensors,
} from './common';

export const GANOMALY_DEFAULTS: Omit<GanomalyConfig, 'size' | 'channels'> = {
  method: 'ganomaly',
  latent: 100,
  ngf: 64,
  ndf: 64,
  lr: 2e-4,
  beta1: 0.5,
  seed: 42,
  heatmapSigma: 1,
  wAdv: 1,
  wCon: 50,
  wEnc: 1,
};

export class Ganomaly extends GanDetector {
  readonly encoderG: tf.LayersModel;
  readonly decoderG: tf.LayersModel;
  readonly encoderE: tf.LayersModel;
  readonly discriminator: tf.LayersModel;
  private readonly optG: tf.AdamOptimizer;
  private readonly optD: tf.AdamOptimizer;
  private reinitCount = 0;

  constructor(
    readonly config: GanomalyConfig,
    nets?: Record<string, tf.LayersModel>,
  ) {
    super();
    const { size, channels, ngf, ndf, latent } = config;
    const seeds = new SeedSequence(config.seed);
    this.encoderG = nets?.encoder_g ?? buildEncoder('encoder_g', size, channels, ngf, latent, seeds);
    this.decoderG = nets?.decoder_g ?? buildDecoder('decoder_g', size, channels, ngf, latent, seeds);
    this.encoderE = nets?.encoder_e ?? buildEncoder('encoder_e', size, channels, ngf, latent, seeds);
    this.discriminator =
      nets?.discriminator ?? buildImageDiscriminator('discriminator', size, channels, ndf, seeds);
    this.optG = adam(config.lr, config.beta1);
    this.optD = adam(config.lr, config.beta1);
  }

  protected get optimizers(): Record<string, tf.Optimizer> {
    return { g: this.optG, d: this.optD };
  }

  networks(): Record<string, tf.LayersModel> {
    return {
      encoder_g: this.encoderG,
      decoder_g: this.decoderG,
      encoder_e: this.encoderE,
      discriminator: this.discriminator,
    };
  }

  trainStep(x: tf.Tensor4D): StepLosses {
    const { wAdv, wCon, wEnc } = this.config;
    let fake: tf.Tensor4D | undefined;
    const g = minimizeWithParts(this.optG, trainableVars(this.encoderG, this.decoderG, this.encoderE), () => {
      const latentI = this.encoderG.apply(x, { training: true }) as tf.Tensor4D;
      const xHat = this.decoderG.apply(latentI, { training: true }) as tf.Tensor4D;
      const latentO = this.encoderE.apply(xHat, { training: true }) as tf.Tensor4D;
      const featReal = (this.discriminator.apply(x, { training: true }) as tf.Tensor[])[1];
      const featFake = (this.discriminator.apply(xHat, { training: true }) as tf.Tensor[])[1];
      const adv = meanSquare(featReal, featFake);
      const con = meanAbs(x, xHat);
      const enc = meanSquare(latentI, latentO);
      fake = tf.keep(xHat.clone());
      const total = tf.addN([adv.mul(wAdv), con.mul(wCon), enc.mul(wEnc)]) as tf.Scalar;
      return { total, parts: { g_adv: adv, g_con: con, g_enc: enc, g: total } };
    });
    const fakeDetached = fake!;
    const d = minimizeWithParts(this.optD, trainableVars(this.discriminator), () => {
      const logitReal = (this.discriminator.apply(x, { training: true }) as tf.Tensor[])[0];
      const logitFake = (this.discriminator.apply(fakeDetached, { training: true }) as tf.Tensor[])[0];
      const total = bceWithLogits(logitReal, 1).add(bceWithLogits(logitFake, 0)).mul(0.5) as tf.Scalar;
      return { total, parts: { d: total } };
    });
    fakeDetached.dispose();
    if (d.d < 1e-5) this.reinitDiscriminator();
    return { ...g, ...d };
  }

  /** As the reference code: a discriminator that wins outright gives the generator no signal; restart it. */
  private reinitDiscriminator(): void {
    this.reinitCount += 1;
    const { size, channels, ndf, seed } = this.config;
    const fresh = buildImageDiscriminator(
      'discriminator_reinit',
      size,
      channels,
      ndf,
      new SeedSequence(seed + 7919 * this.reinitCount),
    );
    this.discriminator.setWeights(fresh.getWeights());
    fresh.dispose();
  }

  /** The inference-mode pass every GANomaly score starts from (call inside a tidy). */
  infer(x: tf.Tensor4D): { latentI: tf.Tensor4D; xHat: tf.Tensor4D; latentO: tf.Tensor4D } {
    const latentI = this.encoderG.apply(x, { training: false }) as tf.Tensor4D;
    const xHat = this.decoderG.apply(latentI, { training: false }) as tf.Tensor4D;
    const latentO = this.encoderE.apply(xHat, { training: false }) as tf.Tensor4D;
    return { latentI, xHat, latentO };
  }

  async score(x: tf.Tensor4D, opts: ScoreOptions = {}): Promise<ScoreBatch> {
    const out = tf.tidy(() => {
      const { latentI, xHat, latentO } = this.infer(x);
      const scores = tf.squaredDifference(latentI, latentO).mean([1, 2, 3]);
      return scoreTensors(x, xHat, scores, opts, this.config.heatmapSigma);
    });
    return readScoreBatch(out);
  }
}
