// One scoring worker of the benchmark's "all cores" rows (bench/ml.ts starts one per core). Each worker is
// a separate JS thread with its own tfjs engine: it selects its own backend, builds its own detector with
// the product's default config and its own random batch, then scores that batch `inner` times per 'run'
// message, so that the main thread can time all workers scoring at once.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, selectBackend } from '../src/ml';
import { callOnce, setUp, weightsDigest, type FromWorker, type ToWorker, type WorkerTask } from './common';

if (!parentPort) throw new Error('bench/ml-worker.ts runs as a worker thread of bench/ml.ts');
const port: MessagePort = parentPort;
const task = workerData as WorkerTask;
const post = (m: FromWorker): void => port.postMessage(m);

async function main(): Promise<void> {
  const status = await selectBackend();
  const before = tf.memory().numTensors;
  const { detector, x } = setUp(task);
  let queue = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    // Messages are handled one after the other (a 'stop' waits for a 'run' in flight).
    queue = queue.then(async () => {
      try {
        if (m.type === 'run') {
          const t0 = performance.now();
          for (let i = 0; i < task.inner; i++) await callOnce(detector, x, task.mode, task.steps);
          post({ type: 'done', seconds: (performance.now() - t0) / 1000 });
        } else {
          detector.dispose();
          x.dispose();
          post({ type: 'stopped', leakedTensors: tf.memory().numTensors - before });
          port.close();
        }
      } catch (e) {
        post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
      }
    });
  });
  // The digest lets the main thread check that every worker scores with the same weights as the detector it
  // exports to ONNX for the row (the same config and seed build the same weights).
  post({ type: 'ready', backend: describeBackend(status), weightsDigest: weightsDigest(detector) });
}

main().catch((e) =>
  post({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
);
