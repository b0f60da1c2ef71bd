// Which engine scores a model: ONNX Runtime when the model can be exported (GANomaly, EGBAD) and its
// ONNX graph reproduces tfjs's outputs on a probe batch within PARITY_TOLERANCE (checked every time a
// model is loaded, on this machine's ONNX Runtime); tfjs otherwise. A setting can force either.
// AnoGAN stays on tfjs (its per-image latent search needs gradients), and so does ganomaly-fusion (its kNN
// memory banks are not exported).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng, TfjsEngine, type ImageBatch, type Method, type ScoringEngine } from '../../ml';
import {
  checkParity,
  exportOnnx,
  OnnxBackbone,
  OnnxEngine,
  OnnxFeatureEngine,
  PARITY_TOLERANCE,
  whyNotOnnx,
} from '../../ml/onnx';
import type { LoadedModel } from '../io/model-store';

export type EnginePreference = 'auto' | 'tfjs' | 'onnxruntime';

export interface EngineChoice {
  engine: ScoringEngine;
  /** Why this engine, for logs and the UI. */
  reason: string;
}

/**
 * A fixed pseudo-random batch in [-1, 1] at the network input (two images: batch > 1 is exercised). Models
 * that judge images at their own size get one image whose sides are neither equal nor multiples of the
 * backbone's strides, so padding and resizing are exercised too.
 */
export function probeBatch(size: number, channels: number, seed = 20261123, native = false): ImageBatch {
  const rng = new Rng(seed);
  const [n, height, width] = native ? [1, 75, 106] : [2, size, size];
  const data = new Float32Array(n * height * width * channels);
  for (let i = 0; i < data.length; i++) data[i] = rng.next() * 2 - 1;
  return { data, n, height, width, channels };
}

export async function chooseEngine(
  modelDir: string,
  model: LoadedModel,
  pref: EnginePreference,
  threads: number,
): Promise<EngineChoice> {
  const tfjs = new TfjsEngine(model.detector);
  if (pref === 'tfjs') return { engine: tfjs, reason: 'tfjs forced by the engine setting' };
  const not = whyNotOnnx(model.meta.method as Method);
  if (not) {
    if (pref === 'onnxruntime') throw new Error(`${not.name} cannot run on ONNX Runtime: ${not.why}`);
    return { engine: tfjs, reason: `${not.name}: ${not.why}; tfjs` };
  }
  let onnx: ScoringEngine | undefined;
  const { size, channels } = model.meta.input;
  const native = model.meta.input.mode === 'native';
  /** An engine on `bytes` that reproduces tfjs on the probe, with its worst relative error. */
  const tryBytes = async (bytes: Uint8Array) => {
    const ob = model.onnxBackbone;
    // An ONNX backbone: its own session, then the exported head. The tfjs engine it is checked against runs
    // the same backbone on ONNX Runtime with the head in tfjs, so the check covers the head.
    onnx = ob
      ? await OnnxFeatureEngine.create(
          await OnnxBackbone.create(ob.bytes, { ...ob, threads }),
          bytes,
          threads,
        )
      : await OnnxEngine.create(bytes, { threads });
    const parity = await checkParity(onnx, tfjs, probeBatch(size, channels, undefined, native));
    const worst = Math.max(parity.score, parity.error, parity.map, parity.reconstruction);
    if (!parity.ok) {
      await onnx.dispose();
      onnx = undefined;
      throw new Error(`parity check failed: relative error ${worst.toExponential(1)} > ${PARITY_TOLERANCE}`);
    }
    return worst;
  };
  try {
    const file = join(modelDir, 'model.onnx');
    let worst: number;
    let note = '';
    if (existsSync(file)) {
      try {
        worst = await tryBytes(await readFile(file));
      } catch (e) {
        // A model.onnx written by an older exporter than the station's scoring code: export it again from
        // the loaded weights (tfjs is the reference) and check that instead.
        worst = await tryBytes(exportOnnx(model.detector));
        note = ` (its model.onnx failed: ${(e as Error).message}; re-exported)`;
      }
    } else worst = await tryBytes(exportOnnx(model.detector));
    // tfjs is no longer needed: free its weights.
    await tfjs.dispose();
    return {
      engine: onnx!,
      reason: `parity with tfjs ${worst.toExponential(1)} <= ${PARITY_TOLERANCE}${note}`,
    };
  } catch (e) {
    await (onnx as ScoringEngine | undefined)?.dispose();
    if (pref === 'onnxruntime') throw e;
    return { engine: tfjs, reason: `ONNX Runtime not used (${(e as Error).message}): tfjs` };
  }
}
