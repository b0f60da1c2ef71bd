// GANomaly on backbone features: the seeds' GANomaly (Akcay et al. 2018) with its networks, losses and weights,
// trained on the pretrained backbone's locally aware patch features instead of pixels, one feature cell at a
// time (DFR, Shi et al. 2021, reconstructs such features with 1x1 convolutions; a per-cell network is that).
// Encoder G_E -> decoder G_D -> encoder E, and a discriminator D, as per-cell MLPs; adversarial loss = L2
// between D's hidden features of the real and reconstructed vectors (w 1), contextual = L1 (w 50), encoder
// = L2 between the two latents (w 1); D with binary cross-entropy. Inputs are standardised per dimension by
// the training features' mean and std. The heatmap is the contextual residual |f - G(f)| per cell (mean over
// dimensions): a reconstruction residual, in feature space, at the image's own resolution; the image score is
// its 99th percentile, as PatchCore's. Training samples `perImage` cells of every training image, keeps the epoch with the lowest
// held-out contextual loss (held-out GOOD images only), and runs inside fitGoodImages (no pixel epochs).
import * as tf from '@tensorflow/tfjs';
import { MOBILENET_V2 } from '../backbone';
import { IMAGE_SCORE_QUANTILE, type FeatureSource } from '../backbone/features';
import { quantile } from '../metrics';
import { cellsToMap, FeatureExtractor } from '../backbone/extractor';
import { Rng, toBatch, type ImageSample } from '../data';
import { gaussianBlur } from '../residual';
import {
  adam,
  bceWithLogits,
  FittedDetector,
  meanAbs,
  meanSquare,
  minimizeWithParts,
  trainableVars,
} from './common';
import { DEFAULT_MIN_SIDE, DEFAULT_SCALE } from './patchcore';
import type { Detector, FitOptions, GanomalyFeaturesConfig, ScoreBatch, ScoreOptions } from './types';

export const GANOMALY_FEATURES_DEFAULTS: Omit<GanomalyFeaturesConfig, 'size' | 'channels'> = {
  method: 'ganomaly-features',
  scale: DEFAULT_SCALE,
  minSide: DEFAULT_MIN_SIDE,
  seed: 42,
  heatmapSigma: 4,
  backbone: MOBILENET_V2.id,
  layers: MOBILENET_V2.layers,
  normalisation: MOBILENET_V2.normalisation,
  latent: 64,
  hidden: 256,
  wAdv: 1,
  wCon: 50,
  wEnc: 1,
  lr: 2e-4,
  beta1: 0.5,
  epochs: 10,
  batch: 512,
  perImage: 64,
};

const NETWORKS = ['encoder_g', 'decoder_g', 'encoder_e', 'discriminator'] as const;

function mlp(name: string, inputs: number, hidden: number, outputs: number, seed: number): tf.LayersModel {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed + k });
  const x = tf.input({ shape: [inputs], name: `${name}_input` });
  const h = tf.layers
    .leakyReLU({ alpha: 0.2, name: `${name}_act` })
    .apply(
      tf.layers.dense({ units: hidden, kernelInitializer: init(1), name: `${name}_hidden` }).apply(x),
    ) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: outputs, kernelInitializer: init(2), name: `${name}_out` }).apply(h);
  // The discriminator also returns its hidden features (feature matching), as the pixel GANomaly's does.
  const outs = name === 'discriminator' ? [y as tf.SymbolicTensor, h] : (y as tf.SymbolicTensor);
  return tf.model({ inputs: x, outputs: outs, name });
}

export class GanomalyFeatures extends FittedDetector implements Detector {
  protected readonly methodName = 'ganomaly-features';
  private readonly extractor: FeatureExtractor;
  private nets?: Record<(typeof NETWORKS)[number], tf.LayersModel>;
  private stats?: { mean: tf.Tensor1D; std: tf.Tensor1D };
  private fitted: Pick<GanomalyFeaturesConfig, 'featureMean' | 'featureStd' | 'trainImages'>;

  constructor(
    private readonly base: GanomalyFeaturesConfig,
    nets?: Record<string, tf.LayersModel>,
    source?: FeatureSource,
  ) {
    super();
    this.extractor = new FeatureExtractor(
      'ganomaly-features',
      base.backbone,
      base.normalisation,
      nets,
      source,
      base.channelPool ?? 1,
    );
    this.fitted = {
      featureMean: base.featureMean,
      featureStd: base.featureStd,
      trainImages: base.trainImages,
    };
    if (nets && NETWORKS.every((n) => nets[n])) {
      this.nets = Object.fromEntries(NETWORKS.map((n) => [n, nets[n]])) as typeof this.nets;
      this.setStats();
    }
  }

  get config(): GanomalyFeaturesConfig {
    return { ...this.base, ...this.fitted };
  }

  get backbone(): tf.LayersModel | undefined {
    return this.extractor.backbone;
  }

  /** The four per-cell networks (for the exporter): encoder_g, decoder_g, encoder_e, discriminator. */
  get cellNetworks(): Record<string, tf.LayersModel> | undefined {
    return this.nets;
  }

  networks(): Record<string, tf.LayersModel> {
    return { ...this.extractor.networks(), ...(this.nets ?? {}) };
  }

  private setStats(): void {
    const { featureMean, featureStd } = this.fitted;
    if (!featureMean || !featureStd) return;
    tf.dispose([this.stats?.mean, this.stats?.std].filter((t) => !!t) as tf.Tensor[]);
    this.stats = { mean: tf.tensor1d(featureMean), std: tf.tensor1d(featureStd) };
  }

  /** `perImage` random cells of every image, as rows [n * perImage, D]. */
  private async sampleCells(images: ImageSample[], rng: Rng, opts: FitOptions, phase: string) {
    const rows: Float32Array[] = [];
    let dim = 0;
    for (let i = 0; i < images.length; i++) {
      if (opts.signal?.aborted) throw new Error('fitting cancelled');
      const x = toBatch([images[i]]);
      const f = await this.extractor.features(x).finally(() => x.dispose());
      const data = (await f.features.data()) as Float32Array;
      dim = f.features.shape[1];
      f.features.dispose();
      const cells = data.length / dim;
      const take = Math.min(this.base.perImage, cells);
      const order = rng.shuffle([...Array(cells).keys()]).slice(0, take);
      const out = new Float32Array(take * dim);
      order.forEach((c, j) => out.set(data.subarray(c * dim, (c + 1) * dim), j * dim));
      rows.push(out);
      opts.onProgress?.({ phase, done: i + 1, total: images.length });
      await new Promise((r) => setTimeout(r, 0));
    }
    const all = new Float32Array(rows.reduce((a, r) => a + r.length, 0));
    let o = 0;
    for (const r of rows) {
      all.set(r, o);
      o += r.length;
    }
    return { data: all, dim, count: all.length / Math.max(1, dim) };
  }

  /** G_E, G_D, E on standardised rows; call inside a tidy. */
  private forward(x: tf.Tensor2D, training: boolean) {
    const n = this.nets!;
    const latentI = n.encoder_g.apply(x, { training }) as tf.Tensor2D;
    const xHat = n.decoder_g.apply(latentI, { training }) as tf.Tensor2D;
    const latentO = n.encoder_e.apply(xHat, { training }) as tf.Tensor2D;
    return { latentI, xHat, latentO };
  }

  private standardise(rows: tf.Tensor2D): tf.Tensor2D {
    return rows.sub(this.stats!.mean).div(this.stats!.std);
  }

  async fitGoodImages(train: ImageSample[], heldOut: ImageSample[], opts: FitOptions): Promise<void> {
    if (!train.length) throw new Error('ganomaly-features needs training images');
    const { seed, hidden, latent, epochs, batch, wAdv, wCon, wEnc, lr, beta1 } = this.base;
    const rng = new Rng(seed);
    const tr = await this.sampleCells(train, rng, opts, 'extracting features');
    const val = heldOut.length
      ? await this.sampleCells(heldOut, rng, opts, 'extracting held-out features')
      : undefined;
    // Per-dimension standardisation from the training cells (a dimension that never varies keeps std 1).
    const mean = new Float64Array(tr.dim);
    const sq = new Float64Array(tr.dim);
    for (let r = 0; r < tr.count; r++)
      for (let k = 0; k < tr.dim; k++) {
        const v = tr.data[r * tr.dim + k];
        mean[k] += v;
        sq[k] += v * v;
      }
    const featureMean = Array.from(mean, (m) => m / tr.count);
    const featureStd = Array.from(sq, (s, k) => {
      const sd = Math.sqrt(Math.max(0, s / tr.count - featureMean[k] ** 2));
      return sd > 1e-6 ? sd : 1;
    });
    this.fitted = { featureMean, featureStd, trainImages: train.length };
    this.setStats();
    this.disposeNets();
    this.nets = {
      encoder_g: mlp('encoder_g', tr.dim, hidden, latent, seed * 10 + 1),
      decoder_g: mlp('decoder_g', latent, hidden, tr.dim, seed * 10 + 2),
      encoder_e: mlp('encoder_e', tr.dim, hidden, latent, seed * 10 + 3),
      discriminator: mlp('discriminator', tr.dim, hidden, 1, seed * 10 + 4),
    };
    const n = this.nets;
    const optG = adam(lr, beta1);
    const optD = adam(lr, beta1);
    const rows = (src: { data: Float32Array; dim: number }, idx: number[]) => {
      const out = new Float32Array(idx.length * src.dim);
      idx.forEach((r, j) => out.set(src.data.subarray(r * src.dim, (r + 1) * src.dim), j * src.dim));
      return tf.tidy(() => this.standardise(tf.tensor2d(out, [idx.length, src.dim])));
    };
    const valLoss = async (): Promise<number> => {
      if (!val || !val.count) return NaN;
      let sum = 0;
      for (let i = 0; i < val.count; i += 2048) {
        const x = rows(
          val,
          Array.from({ length: Math.min(2048, val.count - i) }, (_, k) => i + k),
        );
        const l = tf.tidy(() => meanAbs(x, this.forward(x, false).xHat).mul(x.shape[0]));
        sum += (await l.data())[0];
        tf.dispose([x, l]);
      }
      return sum / val.count;
    };
    let best = Infinity;
    let bestWeights: tf.Tensor[] | undefined;
    try {
      const steps = Math.max(1, Math.floor(tr.count / batch));
      for (let e = 0; e < epochs; e++) {
        const order = rng.shuffle([...Array(tr.count).keys()]);
        for (let s = 0; s < steps; s++) {
          if (opts.signal?.aborted) throw new Error('fitting cancelled');
          const x = rows(tr, order.slice(s * batch, (s + 1) * batch));
          let fake: tf.Tensor2D | undefined;
          minimizeWithParts(optG, trainableVars(n.encoder_g, n.decoder_g, n.encoder_e), () => {
            const { latentI, xHat, latentO } = this.forward(x, true);
            const real = (n.discriminator.apply(x, { training: true }) as tf.Tensor[])[1];
            const rec = (n.discriminator.apply(xHat, { training: true }) as tf.Tensor[])[1];
            const adv = meanSquare(real, rec);
            const con = meanAbs(x, xHat);
            const enc = meanSquare(latentI, latentO);
            fake = tf.keep(xHat.clone());
            const total = tf.addN([adv.mul(wAdv), con.mul(wCon), enc.mul(wEnc)]) as tf.Scalar;
            return { total, parts: { g_con: con } };
          });
          const fk = fake!;
          minimizeWithParts(optD, trainableVars(n.discriminator), () => {
            const lr = (n.discriminator.apply(x, { training: true }) as tf.Tensor[])[0];
            const lf = (n.discriminator.apply(fk, { training: true }) as tf.Tensor[])[0];
            const total = bceWithLogits(lr, 1).add(bceWithLogits(lf, 0)).mul(0.5) as tf.Scalar;
            return { total, parts: { d: total } };
          });
          tf.dispose([x, fk]);
          opts.onProgress?.({ phase: `training epoch ${e + 1}/${epochs}`, done: s + 1, total: steps });
          if (s % 8 === 0) await new Promise((r) => setTimeout(r, 0));
        }
        // Model selection on held-out good images' cells: the lowest contextual (reconstruction) loss.
        const v = await valLoss();
        if (!val || v < best) {
          best = v;
          tf.dispose(bestWeights ?? []);
          bestWeights = NETWORKS.flatMap((k) => n[k].getWeights().map((w) => w.clone()));
        }
      }
      if (bestWeights) {
        let o = 0;
        for (const k of NETWORKS) {
          const count = n[k].getWeights().length;
          n[k].setWeights(bestWeights.slice(o, o + count));
          o += count;
        }
      }
    } finally {
      tf.dispose(bestWeights ?? []);
      optG.dispose();
      optD.dispose();
    }
  }

  /** Score a batch: per cell |f - G(f)| (mean over dimensions), resized, blurred; score = its 99th percentile. */
  async score(x: tf.Tensor4D, opts: ScoreOptions = {}): Promise<ScoreBatch> {
    if (!this.nets || !this.stats)
      throw new Error('ganomaly-features is not trained yet: fit it on good images first');
    const [n, height, width] = x.shape;
    const scores = new Float32Array(n);
    const means = new Float32Array(n);
    const maps: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      const one = x.slice([i, 0, 0, 0], [1, -1, -1, -1]);
      const f = await this.extractor.features(one).finally(() => one.dispose());
      const map = tf.tidy(() => {
        const s = this.standardise(f.features);
        const residual = tf.abs(s.sub(this.forward(s, false).xHat)).mean(1) as tf.Tensor1D;
        return cellsToMap(residual, f, { height, width }, this.base.heatmapSigma, gaussianBlur);
      });
      f.features.dispose();
      const m = (await map.data()) as Float32Array;
      map.dispose();
      let sum = 0;
      for (const v of m) sum += v;
      scores[i] = quantile(m, IMAGE_SCORE_QUANTILE);
      means[i] = sum / m.length;
      if (opts.maps) maps.push(m);
    }
    return { scores, reconstructionErrors: means, maps: opts.maps ? maps : undefined };
  }

  private disposeNets(): void {
    for (const k of NETWORKS) this.nets?.[k].dispose();
    this.nets = undefined;
  }

  dispose(): void {
    this.extractor.dispose();
    this.disposeNets();
    tf.dispose([this.stats?.mean, this.stats?.std].filter((t) => !!t) as tf.Tensor[]);
  }
}
