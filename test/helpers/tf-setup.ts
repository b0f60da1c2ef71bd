// Tests run on the portable backends the CI machine has: wasm (with the composite kernels) and cpu.
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendStatus } from '../../src/ml/backend';

export async function useWasm(): Promise<BackendStatus> {
  const s = await selectBackend('wasm');
  await tf.setBackend('wasm');
  return s;
}
