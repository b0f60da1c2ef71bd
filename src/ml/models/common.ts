// Small helpers shared by the detectors: variable lists for optimisers, losses, optimiser state.
import * as tf from '@tensorflow/tfjs';
import type { Detector, DetectorConfig, NamedTensor, ScoreBatch, ScoreOptions, StepLosses } from './types';
import { perImage, reconstructionError, residualMap, toUnitImages } from '../residual';

/** The tf.Variables behind a model's trainable weights (optimiser varLists must be explicit: an optimiser
 * given no list would update every variable in the process, the discriminator's included). */
export function trainableVars(...models: tf.LayersModel[]): tf.Variable[] {
  return models.flatMap((m) => m.trainableWeights.map((w) => w.read() as tf.Variable));
}

/** Numerically stable sigmoid cross-entropy against a constant label, mean over the batch. */
export function bceWithLogits(logits: tf.Tensor, label: 0 | 1): tf.Scalar {
  return tf.losses.sigmoidCrossEntropy(
    label === 1 ? tf.onesLike(logits) : tf.zerosLike(logits),
    logits,
  ) as tf.Scalar;
}

/** Per-example sigmoid cross-entropy against a constant label (no reduction), shape [N]. */
export function bcePerExample(logits: tf.Tensor, label: 0 | 1): tf.Tensor1D {
  return tf.tidy(() => {
    const flat = logits.reshape([logits.shape[0], -1]);
    const labels = label === 1 ? tf.onesLike(flat) : tf.zerosLike(flat);
    return tf.losses
      .sigmoidCrossEntropy(labels, flat, undefined, 0, tf.Reduction.NONE)
      .mean(1) as tf.Tensor1D;
  });
}

export function meanAbs(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.abs(tf.sub(a, b)).mean() as tf.Scalar;
}

export function meanSquare(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.squaredDifference(a, b).mean() as tf.Scalar;
}

/** Run an optimiser step and return the kept scalar losses as plain numbers. */
export function minimizeWithParts(
  opt: tf.Optimizer,
  vars: tf.Variable[],
  f: () => { total: tf.Scalar; parts: Record<string, tf.Scalar> },
): Record<string, number> {
  let kept: Record<string, tf.Scalar> = {};
  const cost = opt.minimize(
    () => {
      const { total, parts } = f();
      kept = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, tf.keep(v.clone())]));
      return total;
    },
    false,
    vars,
  );
  cost?.dispose();
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(kept)) {
    out[k] = v.dataSync()[0];
    v.dispose();
  }
  return out;
}

/** Prefix optimiser weight names so several optimisers' states can live in one checkpoint. */
export async function namedOptimizerWeights(opts: Record<string, tf.Optimizer>): Promise<NamedTensor[]> {
  const out: NamedTensor[] = [];
  for (const [prefix, opt] of Object.entries(opts)) {
    for (const w of await opt.getWeights()) out.push({ name: `${prefix}::${w.name}`, tensor: w.tensor });
  }
  return out;
}

export async function restoreOptimizerWeights(
  opts: Record<string, tf.Optimizer>,
  weights: NamedTensor[],
): Promise<void> {
  for (const [prefix, opt] of Object.entries(opts)) {
    const mine = weights
      .filter((w) => w.name.startsWith(`${prefix}::`))
      .map((w) => ({ name: w.name.slice(prefix.length + 2), tensor: w.tensor }));
    if (mine.length) await opt.setWeights(mine);
  }
}

export function adam(lr: number, beta1: number): tf.AdamOptimizer {
  return tf.train.adam(lr, beta1, 0.999) as tf.AdamOptimizer;
}

/** The tensors a detector's score produces, before download. */
export type ScoreTensors = {
  scores: tf.Tensor;
  errors: tf.Tensor;
  map?: tf.Tensor4D;
  xHat?: tf.Tensor4D;
};

/** Inside a tidy: the shared part of every method's scoring (residual map, reconstruction error). */
export function scoreTensors(
  x: tf.Tensor4D,
  xHat: tf.Tensor4D,
  scores: tf.Tensor,
  opts: ScoreOptions,
  sigma: number,
): ScoreTensors {
  const out: ScoreTensors = { scores, errors: reconstructionError(x, xHat) };
  if (opts.maps) out.map = residualMap(x, xHat, sigma);
  if (opts.reconstructions) out.xHat = xHat;
  return out;
}

/** Download the score tensors into a ScoreBatch and free them. */
export async function readScoreBatch(t: ScoreTensors): Promise<ScoreBatch> {
  try {
    return {
      scores: (await t.scores.data()) as Float32Array,
      reconstructionErrors: (await t.errors.data()) as Float32Array,
      maps: t.map ? await perImage(t.map) : undefined,
      reconstructions: t.xHat ? await toUnitImages(t.xHat) : undefined,
    };
  } finally {
    tf.dispose([t.scores, t.errors, t.map, t.xHat].filter((v): v is tf.Tensor4D => v !== undefined));
  }
}

export function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : NaN;
}

/**
 * What every GAN detector shares: optimiser state for checkpoints, disposal, and model selection on the
 * held-out reconstruction error. Subclasses name their optimisers (the names are part of checkpoints).
 */
export abstract class GanDetector implements Detector {
  abstract readonly config: DetectorConfig;
  readonly training = 'gradient' as const;
  protected abstract get optimizers(): Record<string, tf.Optimizer>;
  abstract networks(): Record<string, tf.LayersModel>;
  abstract trainStep(batch: tf.Tensor4D): StepLosses;
  abstract score(batch: tf.Tensor4D, opts?: ScoreOptions): Promise<ScoreBatch>;

  async validationLoss(x: tf.Tensor4D): Promise<number> {
    return mean((await this.score(x)).reconstructionErrors);
  }

  optimizerWeights(): Promise<NamedTensor[]> {
    return namedOptimizerWeights(this.optimizers);
  }

  setOptimizerWeights(weights: NamedTensor[]): Promise<void> {
    return restoreOptimizerWeights(this.optimizers, weights);
  }

  dispose(): void {
    for (const m of Object.values(this.networks())) m.dispose();
    for (const o of Object.values(this.optimizers)) o.dispose();
  }
}

/**
 * A memory bank as a network: a bias-free Dense layer whose kernel [dim, n] holds n feature rows as columns,
 * so x . kernel gives every dot product at once and the bank is saved, loaded, hashed and exported like every
 * other network. `kernel` is [dim, n] row-major.
 */
export function memoryBankNetwork(name: string, kernel: tf.Tensor2D): tf.LayersModel {
  const [dim, n] = kernel.shape;
  const input = tf.input({ shape: [dim], name: `${name}_input` });
  const dense = tf.layers.dense({ units: n, useBias: false, name: `${name}_dot` });
  const model = tf.model({ inputs: input, outputs: dense.apply(input) as tf.SymbolicTensor, name });
  dense.setWeights([kernel]);
  return model;
}

/**
 * What every fitted (memory-bank / feature) detector shares: no gradient steps on image batches, no optimiser
 * state, no per-epoch validation loss (model selection, where there is any, happens inside fitGoodImages).
 */
export abstract class FittedDetector {
  readonly training = 'fit' as const;
  protected abstract readonly methodName: string;

  trainStep(): StepLosses {
    throw new Error(
      `${this.methodName} is not trained by steps on image batches; it is fitted once (fitGoodImages)`,
    );
  }

  async validationLoss(): Promise<number> {
    return NaN;
  }

  async optimizerWeights(): Promise<NamedTensor[]> {
    return [];
  }

  async setOptimizerWeights(): Promise<void> {}
}
