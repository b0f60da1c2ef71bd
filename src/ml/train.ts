// The training loop (custom, not fit(): GANs alternate optimisers). Epochs over the good images, progress
// events (losses, images/s, ETA, sample reconstructions), cancel by AbortSignal, a checkpoint after every
// epoch that `resume` continues from, a fixed seed, and early stopping + model selection on HELD-OUT GOOD
// images only (the lowest validation reconstruction loss wins; a test set is never looked at).
import * as tf from '@tensorflow/tfjs';
import type { Detector, NamedTensor, StepLosses } from './models/types';
import { Rng, randomCrops, toBatch, type ImageSample } from './data';
import { decodeTensors, detectorArtifacts, encodeTensors, restoreWeights, snapshotWeights } from './format';

export interface EpochRecord {
  epoch: number;
  losses: StepLosses;
  validationLoss: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface TrainProgress {
  kind: 'step' | 'epoch';
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  losses: StepLosses;
  imagesPerSecond: number;
  etaSeconds: number;
  validationLoss?: number;
  bestEpoch?: number;
  /** At epoch ends: a few held-out images and their reconstructions, [0,1] HWC. */
  samples?: {
    input: Float32Array;
    reconstruction: Float32Array;
    width: number;
    height: number;
    channels: number;
  }[];
}

/** Everything needed to continue a run: weights, optimiser state, RNG, history, best-so-far. */
export interface Checkpoint {
  epoch: number;
  rngState: number;
  history: EpochRecord[];
  bestEpoch: number;
  bestValidationLoss: number;
  networks: Record<string, tf.io.ModelArtifacts>;
  optimizer: { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer };
  best: { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer };
}

export interface TrainOptions {
  epochs: number;
  /** Default 32. */
  batchSize?: number;
  /** Patch mode: train on random crops of this side (= network input) instead of whole images. */
  patchSize?: number;
  /** Steps per epoch; default one pass over the training images. */
  stepsPerEpoch?: number;
  /** Held-out good images (same preparation as training) for early stopping and model selection. */
  validation?: ImageSample[];
  /** Epochs without improvement before stopping; default 5. 0 disables early stopping. */
  patience?: number;
  /** Smallest drop in validation loss that counts as an improvement (as Keras's min_delta). Default 0. */
  minDelta?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** Called after each epoch with the checkpoint; persist it to make the run resumable. */
  onCheckpoint?: (c: Checkpoint) => Promise<void> | void;
  resume?: Checkpoint;
  /** Progress of fitGoodImages (memory banks), which runs after the epochs. */
  onFitProgress?: (p: { phase: string; done: number; total: number }) => void;
  /** Reconstructions to include in epoch progress events. Default 4. */
  sampleCount?: number;
}

export interface TrainResult {
  epochsRun: number;
  bestEpoch: number;
  bestValidationLoss: number;
  history: EpochRecord[];
  stoppedEarly: boolean;
  cancelled: boolean;
  seconds: number;
}

const mergeLosses = (acc: StepLosses, l: StepLosses, n: number): StepLosses => {
  const out: StepLosses = { ...acc };
  for (const [k, v] of Object.entries(l)) out[k] = ((acc[k] ?? 0) * (n - 1) + v) / n;
  return out;
};

async function validationLoss(d: Detector, val: ImageSample[], batchSize: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < val.length; i += batchSize) {
    const chunk = val.slice(i, i + batchSize);
    const x = toBatch(chunk);
    try {
      sum += (await d.validationLoss(x)) * chunk.length;
    } finally {
      x.dispose();
    }
  }
  return sum / val.length;
}

async function sampleReconstructions(d: Detector, images: ImageSample[]): Promise<TrainProgress['samples']> {
  if (!images.length) return [];
  const x = toBatch(images);
  try {
    const r = await d.score(x, { reconstructions: true });
    const inputs = await x.add(1).mul(0.5).data();
    const per = inputs.length / images.length;
    return images.map((s, i) => ({
      input: (inputs as Float32Array).slice(i * per, (i + 1) * per),
      reconstruction: r.reconstructions![i],
      width: s.width,
      height: s.height,
      channels: s.channels,
    }));
  } finally {
    x.dispose();
  }
}

/** Fixed validation crops for patch mode: the same windows every epoch, so losses are comparable. */
export function validationCrops(
  val: ImageSample[],
  patchSize: number,
  perImage: number,
  seed: number,
): ImageSample[] {
  const rng = new Rng(seed ^ 0x5eed);
  return val.flatMap((s) => Array.from({ length: perImage }, () => randomCrops([s], patchSize, rng)[0]));
}

export async function trainDetector(
  detector: Detector,
  train: ImageSample[],
  opts: TrainOptions,
): Promise<TrainResult> {
  if (!train.length) throw new Error('no training images');
  // Methods that fit in one pass (memory banks) have no epochs: straight to fitGoodImages.
  if (detector.training === 'fit') opts = { ...opts, epochs: 0 };
  const batchSize = Math.min(opts.batchSize ?? 32, train.length);
  const patience = opts.patience ?? 5;
  const seed = opts.seed ?? detector.config.seed;
  const stepsPerEpoch = opts.stepsPerEpoch ?? Math.max(1, Math.floor(train.length / batchSize));
  const val =
    opts.patchSize && opts.validation
      ? validationCrops(opts.validation, opts.patchSize, 4, seed)
      : (opts.validation ?? []);
  const sampleImages = val.slice(0, opts.sampleCount ?? 4);
  const rng = new Rng(seed);
  let history: EpochRecord[] = [];
  let bestEpoch = 0;
  let bestLoss = Infinity;
  let best: NamedTensor[] | undefined;
  let startEpoch = 0;
  const t0 = performance.now();

  if (opts.resume) {
    const c = opts.resume;
    const nets = detector.networks();
    for (const [name, a] of Object.entries(c.networks)) {
      if (!nets[name]) throw new Error(`checkpoint has unknown network ${name}`);
      const tmp = await tf.loadLayersModel(tf.io.fromMemory(a));
      nets[name].setWeights(tmp.getWeights());
      tmp.dispose();
    }
    const optW = decodeTensors(c.optimizer.specs, c.optimizer.data);
    await detector.setOptimizerWeights(optW);
    tf.dispose(optW.map((w) => w.tensor));
    best = decodeTensors(c.best.specs, c.best.data);
    rng.state = c.rngState;
    history = [...c.history];
    bestEpoch = c.bestEpoch;
    bestLoss = c.bestValidationLoss;
    startEpoch = c.epoch;
  }

  let cancelled = false;
  let stoppedEarly = false;
  let epoch = startEpoch;
  const totalSteps = (opts.epochs - startEpoch) * stepsPerEpoch;
  let stepsDone = 0;
  let rate = 0; // images/s, smoothed

  try {
    for (; epoch < opts.epochs; epoch++) {
      const te = performance.now();
      let order: number[] = [];
      let losses: StepLosses = {};
      for (let step = 0; step < stepsPerEpoch; step++) {
        if (opts.signal?.aborted) {
          cancelled = true;
          break;
        }
        if (order.length < batchSize) order = order.concat(rng.shuffle([...train.keys()]));
        const picked = order.splice(0, batchSize).map((i) => train[i]);
        const images = opts.patchSize ? randomCrops(picked, opts.patchSize, rng) : picked;
        const ts = performance.now();
        const x = toBatch(images);
        let l: StepLosses;
        try {
          l = detector.trainStep(x);
        } finally {
          x.dispose();
        }
        const dt = (performance.now() - ts) / 1000;
        rate = rate === 0 ? batchSize / dt : 0.8 * rate + 0.2 * (batchSize / dt);
        stepsDone += 1;
        losses = mergeLosses(losses, l, step + 1);
        opts.onProgress?.({
          kind: 'step',
          epoch: epoch + 1,
          epochs: opts.epochs,
          step: step + 1,
          stepsPerEpoch,
          losses: l,
          imagesPerSecond: rate,
          etaSeconds: ((totalSteps - stepsDone) * batchSize) / rate,
        });
        // Yield to the event loop so cancel requests and other work get a turn between steps.
        await new Promise((r) => setTimeout(r, 0));
      }
      if (cancelled) break;
      // Without held-out images there is nothing to select on: the latest epoch is kept.
      const vLoss = val.length ? await validationLoss(detector, val, batchSize) : NaN;
      if (!val.length || vLoss < bestLoss - (opts.minDelta ?? 0) || !best) {
        bestLoss = vLoss;
        bestEpoch = epoch + 1;
        if (best) tf.dispose(best.map((b) => b.tensor));
        best = snapshotWeights(detector);
      }
      const seconds = (performance.now() - te) / 1000;
      history.push({
        epoch: epoch + 1,
        losses,
        validationLoss: vLoss,
        seconds,
        imagesPerSecond: (stepsPerEpoch * batchSize) / seconds,
      });
      opts.onProgress?.({
        kind: 'epoch',
        epoch: epoch + 1,
        epochs: opts.epochs,
        step: stepsPerEpoch,
        stepsPerEpoch,
        losses,
        imagesPerSecond: rate,
        etaSeconds: ((totalSteps - stepsDone) * batchSize) / rate,
        validationLoss: vLoss,
        bestEpoch,
        samples: await sampleReconstructions(detector, sampleImages),
      });
      if (opts.onCheckpoint) {
        await opts.onCheckpoint(
          await makeCheckpoint(detector, epoch + 1, rng.state, history, bestEpoch, bestLoss, best),
        );
      }
      if (val.length && patience > 0 && epoch + 1 - bestEpoch >= patience) {
        stoppedEarly = true;
        epoch += 1;
        break;
      }
    }
    // Model selection: the epoch with the lowest held-out good loss, never the last by default.
    if (best && !cancelled) restoreWeights(detector, best);
    // Methods that keep something from the good images themselves (ganomaly-fusion's memory banks) fit it
    // on the chosen weights, with the whole held-out images (not patch-mode crops).
    if (!cancelled && detector.fitGoodImages) {
      if (opts.patchSize)
        throw new Error(`${detector.config.method} scores whole images; it has no patch mode`);
      try {
        await detector.fitGoodImages(train, opts.validation ?? [], {
          batchSize,
          signal: opts.signal,
          onProgress: opts.onFitProgress,
        });
      } catch (e) {
        // A cancel during fitting is a cancel, not a failure.
        if (!opts.signal?.aborted) throw e;
        cancelled = true;
      }
    }
  } finally {
    if (best) tf.dispose(best.map((b) => b.tensor));
  }
  return {
    epochsRun: Math.min(epoch, opts.epochs),
    bestEpoch,
    bestValidationLoss: bestLoss,
    history,
    stoppedEarly,
    cancelled,
    seconds: (performance.now() - t0) / 1000,
  };
}

async function makeCheckpoint(
  d: Detector,
  epoch: number,
  rngState: number,
  history: EpochRecord[],
  bestEpoch: number,
  bestValidationLoss: number,
  best: NamedTensor[],
): Promise<Checkpoint> {
  const optW = await d.optimizerWeights();
  const optimizer = await encodeTensors(optW);
  // Adam's getWeights() hands out its live accumulators plus a fresh iteration-count scalar: free only that.
  tf.dispose(optW.filter((w) => w.name.endsWith('iter')).map((w) => w.tensor));
  return {
    epoch,
    rngState,
    history: [...history],
    bestEpoch,
    bestValidationLoss,
    networks: await detectorArtifacts(d),
    optimizer,
    best: await encodeTensors(best),
  };
}
