// DCGAN building blocks shared by the three methods, as in the GANomaly reference implementation
// (Akcay et al. 2018) and DCGAN (Radford et al. 2016): 4x4 convolutions, stride 2 halving the image down to
// 4x4, BatchNorm + LeakyReLU(0.2) in encoders, BatchNorm + ReLU in decoders, no biases, N(0, 0.02) weights.
import * as tf from '@tensorflow/tfjs';

export const SUPPORTED_SIZES = [32, 64, 128, 256] as const;

export function checkSize(size: number): void {
  if (!(SUPPORTED_SIZES as readonly number[]).includes(size)) {
    throw new Error(`network input size must be one of ${SUPPORTED_SIZES.join(', ')} (got ${size})`);
  }
}

/** Deterministic seeds for each layer's initialiser, derived from one model seed. */
export class SeedSequence {
  private n = 0;
  constructor(private readonly seed: number) {}
  next(): number {
    this.n += 1;
    return (this.seed * 1000003 + this.n * 7919) % 2147483647;
  }
}

const convInit = (seeds: SeedSequence) =>
  tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: seeds.next() });

function batchNorm(seeds: SeedSequence, name: string): tf.layers.Layer {
  // PyTorch momentum 0.1 == tfjs momentum 0.9; eps 1e-5 as in PyTorch.
  return tf.layers.batchNormalization({
    name,
    momentum: 0.9,
    epsilon: 1e-5,
    gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.02, seed: seeds.next() }),
  });
}

/** Channels at each pyramid level of an encoder for `size`: 32 -> [ndf, 2ndf, 4ndf] at 16, 8, 4 px. */
export function pyramid(size: number, base: number): number[] {
  const out: number[] = [];
  let c = base;
  for (let s = size / 2; s >= 4; s /= 2) {
    out.push(c);
    c *= 2;
  }
  return out;
}

/**
 * The DCGAN encoder body: image [size,size,channels] -> features [4,4,C] (the layers before the last conv).
 * Layers are returned so discriminators can reuse them as a feature extractor.
 */
function encoderBody(
  prefix: string,
  size: number,
  channels: number,
  ndf: number,
  seeds: SeedSequence,
): tf.layers.Layer[] {
  const layers: tf.layers.Layer[] = [];
  const levels = pyramid(size, ndf);
  levels.forEach((filters, i) => {
    layers.push(
      tf.layers.conv2d({
        name: `${prefix}_conv${i}`,
        ...(i === 0 ? { inputShape: [size, size, channels] } : {}),
        filters,
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        useBias: false,
        kernelInitializer: convInit(seeds),
      }),
    );
    if (i > 0) layers.push(batchNorm(seeds, `${prefix}_bn${i}`));
    layers.push(tf.layers.leakyReLU({ name: `${prefix}_lrelu${i}`, alpha: 0.2 }));
  });
  return layers;
}

/** Encoder: image -> latent [1,1,nz] (GANomaly's G_E and E, EGBAD's E). */
export function buildEncoder(
  name: string,
  size: number,
  channels: number,
  ndf: number,
  nz: number,
  seed: SeedSequence,
): tf.Sequential {
  checkSize(size);
  const model = tf.sequential({ name });
  for (const l of encoderBody(name, size, channels, ndf, seed)) model.add(l);
  model.add(
    tf.layers.conv2d({
      name: `${name}_final`,
      filters: nz,
      kernelSize: 4,
      strides: 1,
      padding: 'valid',
      useBias: false,
      kernelInitializer: convInit(seed),
    }),
  );
  return model;
}

/** Decoder / generator: latent [1,1,nz] -> image [size,size,channels] in [-1, 1] (tanh). */
export function buildDecoder(
  name: string,
  size: number,
  channels: number,
  ngf: number,
  nz: number,
  seeds: SeedSequence,
): tf.Sequential {
  checkSize(size);
  const levels = pyramid(size, ngf).reverse(); // e.g. 32: [4ngf, 2ngf, ngf] at 4, 8, 16 px
  const model = tf.sequential({ name });
  model.add(
    tf.layers.conv2dTranspose({
      name: `${name}_in`,
      inputShape: [1, 1, nz],
      filters: levels[0],
      kernelSize: 4,
      strides: 1,
      padding: 'valid',
      useBias: false,
      kernelInitializer: convInit(seeds),
    }),
  );
  model.add(batchNorm(seeds, `${name}_bn0`));
  model.add(tf.layers.reLU({ name: `${name}_relu0` }));
  for (let i = 1; i < levels.length; i++) {
    model.add(
      tf.layers.conv2dTranspose({
        name: `${name}_up${i}`,
        filters: levels[i],
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        useBias: false,
        kernelInitializer: convInit(seeds),
      }),
    );
    model.add(batchNorm(seeds, `${name}_bn${i}`));
    model.add(tf.layers.reLU({ name: `${name}_relu${i}` }));
  }
  model.add(
    tf.layers.conv2dTranspose({
      name: `${name}_out`,
      filters: channels,
      kernelSize: 4,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: convInit(seeds),
    }),
  );
  model.add(tf.layers.activation({ name: `${name}_tanh`, activation: 'tanh' }));
  return model;
}

/**
 * DCGAN discriminator: image -> [logit, features]. Features are the last 4x4 feature maps (GANomaly's
 * adversarial feature-matching loss and AnoGAN's discrimination loss use them). The logit is pre-sigmoid
 * (losses use the numerically stable sigmoid cross-entropy).
 */
export function buildImageDiscriminator(
  name: string,
  size: number,
  channels: number,
  ndf: number,
  seeds: SeedSequence,
): tf.LayersModel {
  checkSize(size);
  const input = tf.input({ shape: [size, size, channels], name: `${name}_x` });
  let h: tf.SymbolicTensor = input;
  for (const l of encoderBody(name, size, channels, ndf, seeds)) h = l.apply(h) as tf.SymbolicTensor;
  const features = h;
  const logit = tf.layers
    .conv2d({
      name: `${name}_final`,
      filters: 1,
      kernelSize: 4,
      strides: 1,
      padding: 'valid',
      useBias: false,
      kernelInitializer: convInit(seeds),
    })
    .apply(features) as tf.SymbolicTensor;
  const flat = tf.layers.flatten({ name: `${name}_logit` }).apply(logit) as tf.SymbolicTensor;
  return tf.model({ name, inputs: input, outputs: [flat, features] });
}

/**
 * BiGAN joint discriminator D(x, z) as in EGBAD (Zenati et al. 2018): a conv branch for x, a dense branch for
 * z, concatenated into a dense layer whose activations are the features used by the feature-matching score.
 */
export function buildJointDiscriminator(
  name: string,
  size: number,
  channels: number,
  ndf: number,
  nz: number,
  seeds: SeedSequence,
): tf.LayersModel {
  checkSize(size);
  const x = tf.input({ shape: [size, size, channels], name: `${name}_x` });
  const z = tf.input({ shape: [1, 1, nz], name: `${name}_z` });
  let hx: tf.SymbolicTensor = x;
  for (const l of encoderBody(`${name}_x`, size, channels, ndf, seeds)) hx = l.apply(hx) as tf.SymbolicTensor;
  hx = tf.layers.flatten({ name: `${name}_xflat` }).apply(hx) as tf.SymbolicTensor;
  let hz = tf.layers.flatten({ name: `${name}_zflat` }).apply(z) as tf.SymbolicTensor;
  hz = tf.layers
    .dense({ name: `${name}_zdense`, units: 512, kernelInitializer: convInit(seeds) })
    .apply(hz) as tf.SymbolicTensor;
  hz = tf.layers.leakyReLU({ name: `${name}_zlrelu`, alpha: 0.2 }).apply(hz) as tf.SymbolicTensor;
  let h = tf.layers.concatenate({ name: `${name}_concat` }).apply([hx, hz]) as tf.SymbolicTensor;
  h = tf.layers
    .dense({ name: `${name}_joint`, units: 1024, kernelInitializer: convInit(seeds) })
    .apply(h) as tf.SymbolicTensor;
  const features = tf.layers.leakyReLU({ name: `${name}_jlrelu`, alpha: 0.2 }).apply(h) as tf.SymbolicTensor;
  const logit = tf.layers
    .dense({ name: `${name}_logit`, units: 1, kernelInitializer: convInit(seeds) })
    .apply(features) as tf.SymbolicTensor;
  return tf.model({ name, inputs: [x, z], outputs: [logit, features] });
}
