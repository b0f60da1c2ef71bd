// Model folders on disk: networks/<name>/model.json + weights.bin (standard tfjs layout), meta.json, and a
// checkpoint/ folder while training runs. Writes go to a temporary folder renamed into place, so a crash
// never leaves half a model behind.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { LoadOptions } from './images';
import { ONNX_BACKBONE, type BackboneNormalisation } from '../../ml/backbone';
import { OnnxBackbone } from '../../ml/onnx';
import {
  FORMAT_VERSION,
  loadDetector,
  parseModelMeta,
  type Checkpoint,
  type Detector,
  type DetectorConfig,
  type InputSpec,
  type ModelMeta,
} from '../../ml';

export { FORMAT_VERSION };

async function writeNetwork(dir: string, a: tf.io.ModelArtifacts): Promise<void> {
  await mkdir(dir, { recursive: true });
  const weights = a.weightData instanceof ArrayBuffer ? a.weightData : undefined;
  if (!weights) throw new Error('network artifacts carry no single weight buffer');
  const modelJson = {
    format: a.format ?? 'layers-model',
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy ?? null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
  };
  await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
  await writeFile(join(dir, 'weights.bin'), new Uint8Array(weights));
}

async function readNetwork(dir: string): Promise<tf.io.ModelArtifacts> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  const manifest = json.weightsManifest?.[0];
  if (!manifest?.paths?.length) throw new Error(`${dir}/model.json has no weights manifest`);
  const buf = await readFile(join(dir, manifest.paths[0]));
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    weightSpecs: manifest.weights,
    weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer,
  };
}

async function writeNetworks(root: string, nets: Record<string, tf.io.ModelArtifacts>): Promise<void> {
  for (const [name, a] of Object.entries(nets)) await writeNetwork(join(root, 'networks', name), a);
}

async function readNetworks(root: string, names: string[]): Promise<Record<string, tf.io.ModelArtifacts>> {
  const out: Record<string, tf.io.ModelArtifacts> = {};
  for (const name of names) out[name] = await readNetwork(join(root, 'networks', name));
  return out;
}

/** The ONNX export every exportable model folder carries (scored by ONNX Runtime in the station). */
export const ONNX_FILE = 'model.onnx';
/** The held-out good (and known defect) scores the threshold was calibrated on: the Calibrate view plots them. */
export const CALIBRATION_SCORES_FILE = 'calibration-scores.json';

/** A PatchCore model's own ONNX backbone, copied into its folder at training. */
export const BACKBONE_ONNX_FILE = 'backbone.onnx';

/** Where a memory-bank model keeps training image `index` (see referenceImages in train-model.ts). */
export function referenceFile(index: number): string {
  return join(REFERENCES_DIR, `${index}.jpg`);
}
export const REFERENCES_DIR = 'references';

/** A memory-bank model's reference image `index` (JPEG bytes), or undefined when it has none. */
export async function readReference(dir: string, index: number): Promise<Buffer | undefined> {
  if (!(Number.isInteger(index) && index >= 0)) return undefined;
  const file = join(dir, referenceFile(index));
  return existsSync(file) ? readFile(file) : undefined;
}

/**
 * Write a complete model folder atomically (replacing an older one at `dir`), with its ONNX export if given
 * and any extra files (relative path -> bytes, e.g. a memory bank's reference images).
 */
export async function saveModel(
  dir: string,
  meta: ModelMeta,
  nets: Record<string, tf.io.ModelArtifacts>,
  onnx?: Uint8Array,
  calibrationScores?: { good: number[]; defect: number[] },
  extraFiles: Record<string, Uint8Array> = {},
): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeNetworks(tmp, nets);
  for (const [rel, bytes] of Object.entries(extraFiles)) {
    await mkdir(dirname(join(tmp, rel)), { recursive: true });
    await writeFile(join(tmp, rel), bytes);
  }
  if (onnx) await writeFile(join(tmp, ONNX_FILE), onnx);
  if (calibrationScores)
    await writeFile(join(tmp, CALIBRATION_SCORES_FILE), JSON.stringify(calibrationScores));
  await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2));
  // Keep a running checkpoint (if any) with the model: resume needs it until the job is done.
  if (existsSync(join(dir, 'checkpoint'))) await rename(join(dir, 'checkpoint'), join(tmp, 'checkpoint'));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await rename(tmp, dir);
}

export async function readModelMeta(dir: string): Promise<ModelMeta> {
  const file = join(dir, 'meta.json');
  if (!existsSync(dir)) throw new Error(`model folder not found: ${dir}`);
  if (!existsSync(file)) throw new Error(`${dir} is not a model folder (no meta.json)`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`damaged model: ${file} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return parseModelMeta(raw);
}

export interface LoadedModel {
  meta: ModelMeta;
  detector: Detector;
  /** A PatchCore model's own ONNX backbone (backbone.onnx), when it has one: the bytes the engines run. */
  onnxBackbone?: { bytes: Uint8Array; outputs: string[]; normalisation: BackboneNormalisation };
  /** How images must be prepared and scored for this model (see inputHandling). */
  input: InputSpec;
  load: LoadOptions;
}

/** The one place that turns a model's input description into decode options and a scoring spec, so
 * training, calibration, eval and scoring prepare images identically. */
export function inputHandling(input: ModelMeta['input']): { input: InputSpec; load: LoadOptions } {
  const { mode, size, channels, stride, statistic, workingSize, scale, minSide } = input;
  return {
    input: { mode, size, stride, statistic },
    load:
      mode === 'patch'
        ? { channels, maxSide: workingSize }
        : mode === 'native'
          ? { channels, scale: scale ?? 1, minSide: minSide ?? 0, maxSide: size || undefined }
          : { channels, size },
  };
}

/** Load a model folder on the current backend; clear errors for foreign, newer or damaged folders. */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const meta = await readModelMeta(dir);
  let nets: Record<string, tf.io.ModelArtifacts>;
  try {
    nets = await readNetworks(dir, meta.networks);
  } catch (e) {
    throw new Error(`damaged model in ${dir}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  try {
    const config = meta.config as unknown as DetectorConfig;
    if (config.method === 'patchcore' && config.backbone === ONNX_BACKBONE) {
      // The engineer's backbone runs on ONNX Runtime; the tfjs side gets its taps as a feature source.
      const file = join(dir, BACKBONE_ONNX_FILE);
      if (!existsSync(file)) throw new Error(`${BACKBONE_ONNX_FILE} is missing`);
      const onnxBackbone = {
        bytes: new Uint8Array(await readFile(file)),
        outputs: config.layers,
        normalisation: config.normalisation,
      };
      const runner = await OnnxBackbone.create(onnxBackbone.bytes, onnxBackbone);
      const detector = await loadDetector(config, nets, runner.source());
      return { meta, detector, onnxBackbone, ...inputHandling(meta.input) };
    }
    const detector = await loadDetector(config, nets);
    return { meta, detector, ...inputHandling(meta.input) };
  } catch (e) {
    throw new Error(`damaged model in ${dir}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
}

/** Checkpoints: networks + a JSON header + two weight blobs, written atomically under MODEL/checkpoint. */
export async function saveCheckpoint(
  modelDir: string,
  c: Checkpoint,
  extra: Record<string, unknown>,
): Promise<void> {
  const dir = join(modelDir, 'checkpoint');
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeNetworks(tmp, c.networks);
  await writeFile(join(tmp, 'optimizer.bin'), new Uint8Array(c.optimizer.data));
  await writeFile(join(tmp, 'best.bin'), new Uint8Array(c.best.data));
  const header = {
    formatVersion: FORMAT_VERSION,
    epoch: c.epoch,
    rngState: c.rngState,
    history: c.history,
    bestEpoch: c.bestEpoch,
    bestValidationLoss: c.bestValidationLoss,
    networks: Object.keys(c.networks),
    optimizerSpecs: c.optimizer.specs,
    bestSpecs: c.best.specs,
    ...extra,
  };
  await writeFile(join(tmp, 'checkpoint.json'), JSON.stringify(header));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

export async function loadCheckpoint(
  modelDir: string,
): Promise<{ checkpoint: Checkpoint; extra: Record<string, unknown> } | undefined> {
  const dir = join(modelDir, 'checkpoint');
  if (!existsSync(join(dir, 'checkpoint.json'))) return undefined;
  const h = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8'));
  const blob = async (f: string) => {
    const b = await readFile(join(dir, f));
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  };
  const {
    epoch,
    rngState,
    history,
    bestEpoch,
    bestValidationLoss,
    networks,
    optimizerSpecs,
    bestSpecs,
    formatVersion: _v,
    ...extra
  } = h;
  return {
    checkpoint: {
      epoch,
      rngState,
      history,
      bestEpoch,
      bestValidationLoss: bestValidationLoss ?? Infinity,
      networks: await readNetworks(dir, networks),
      optimizer: { specs: optimizerSpecs, data: await blob('optimizer.bin') },
      best: { specs: bestSpecs, data: await blob('best.bin') },
    },
    extra,
  };
}

export async function removeCheckpoint(modelDir: string): Promise<void> {
  await rm(join(modelDir, 'checkpoint'), { recursive: true, force: true });
}
