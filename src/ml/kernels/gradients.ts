// Gradient fixes. tfjs 4.22's FusedBatchNorm gradient materialises the per-channel 1/sqrt(var+eps) at the
// full activation shape with tf.tile before multiplying (about 10% of a GANomaly training step on wasm);
// broadcasting gives the same numbers without the copy. The other partial derivatives are tfjs's own.
import * as tf from '@tensorflow/tfjs';

let original: tf.GradConfig | undefined;

export function registerGradientFixes(): string[] {
  const current = tf.getGradient('FusedBatchNorm');
  if (!current || current === fixed) return current === fixed ? ['FusedBatchNorm'] : [];
  original = current;
  const warn = console.warn; // registerGradient warns when it overrides; this override is deliberate
  console.warn = () => {};
  try {
    tf.registerGradient(fixed);
  } finally {
    console.warn = warn;
  }
  return ['FusedBatchNorm'];
}

/** The gradient tfjs shipped with (for tests that compare against it). */
export function originalGradient(): tf.GradConfig | undefined {
  return original;
}

const fixed: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const grads = original!.gradFunc(dy, saved, attrs) as Record<string, () => tf.Tensor>;
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const [x, , variance, scale] = saved;
    return {
      ...grads,
      x: () => {
        const perChannel = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
        const factor = scale == null ? perChannel : tf.mul(perChannel, scale);
        return tf.reshape(tf.mul(dy as tf.Tensor, factor), x.shape);
      },
    };
  },
};
