// The model format: a folder with one tfjs LayersModel per network (model.json + weights, standard tfjs
// format, loadable by tf.loadLayersModel anywhere) and meta.json describing everything needed to score
// identically later: method and config, input handling, normalisation, calibration, training provenance.
// This module turns detectors into in-memory artifacts and back; the main process writes them to disk.
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { Calibration } from './calibration';
import { createDetector, METHODS, type Detector, type DetectorConfig, type NamedTensor } from './models';
import { ONNX_BACKBONE } from './backbone';
import type { FeatureSource } from './backbone/features';

export const FORMAT_VERSION = 1;

const calibrationSchema = z.object({
  method: z.enum(['quantile', 'f1']),
  targetFalseAlarmRate: z.number(),
  threshold: z.number(),
  goodStats: z.object({
    n: z.number(),
    mean: z.number(),
    std: z.number(),
    min: z.number(),
    max: z.number(),
    p50: z.number(),
    p95: z.number(),
    p99: z.number(),
    p995: z.number(),
  }),
  low: z.number(),
  high: z.number(),
  defectCount: z.number(),
});

// Keeps the schema and calibration.ts's Calibration type from drifting apart (a compile error if they do).
const _calibrationMatches: z.ZodType<Calibration> = calibrationSchema;
void _calibrationMatches;

export const modelMetaSchema = z.object({
  format: z.literal('anomaly-station-model'),
  formatVersion: z.number().int(),
  name: z.string(),
  createdAt: z.string(),
  method: z.enum(METHODS as unknown as [string, ...string[]]),
  config: z.record(z.string(), z.unknown()),
  networks: z.array(z.string()).min(1),
  input: z.object({
    size: z.number().int(),
    channels: z.union([z.literal(1), z.literal(3)]),
    /**
     * 'resize': the whole image is resized to size x size; 'patch': tiled at `workingSize`; 'native': judged
     * whole at its own resolution, the longer side shrunk to at most `size` (0 = never shrunk).
     */
    mode: z.enum(['resize', 'patch', 'native']),
    /** Patch mode: the longer side images are resized to before tiling (0 = native). */
    workingSize: z.number().int().optional(),
    stride: z.number().int().optional(),
    statistic: z.enum(['max-patch', 'map-max', 'map-p99']).optional(),
    /** Native mode: the share of the camera's resolution images are judged at, and the least shorter side. */
    scale: z.number().positive().optional(),
    minSide: z.number().int().nonnegative().optional(),
  }),
  normalisation: z.object({ pixels: z.literal('uint8'), range: z.tuple([z.number(), z.number()]) }),
  calibration: calibrationSchema.optional(),
  /** Colour scale for residual maps, from held-out good images: vmax = their 99.9th percentile pixel. */
  heatmap: z.object({ vmin: z.number(), vmax: z.number() }).optional(),
  training: z
    .object({
      dataHash: z.string(),
      dataDir: z.string().optional(),
      images: z.number().int(),
      validationImages: z.number().int(),
      calibrationImages: z.number().int(),
      epochs: z.number().int(),
      bestEpoch: z.number().int(),
      /** Absent for fitted methods (no epochs). */
      bestValidationLoss: z.number().optional(),
      seconds: z.number(),
      backend: z.string(),
      batchSize: z.number().int(),
    })
    .optional(),
  metrics: z.record(z.string(), z.unknown()).optional(),
});

export type ModelMeta = z.infer<typeof modelMetaSchema>;

/** Validate a parsed meta.json with a message a person can act on. */
export function parseModelMeta(raw: unknown): ModelMeta {
  if (raw && typeof raw === 'object' && (raw as { format?: unknown }).format !== 'anomaly-station-model') {
    throw new Error('not an Anomaly Station model (meta.json has no "format": "anomaly-station-model")');
  }
  const v = (raw as { formatVersion?: unknown })?.formatVersion;
  if (typeof v === 'number' && v > FORMAT_VERSION) {
    throw new Error(
      `model format version ${v} is newer than this station understands (${FORMAT_VERSION}); update the station`,
    );
  }
  const r = modelMetaSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`damaged model meta.json: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}

/** Serialise one network to standard tfjs artifacts (topology + weight specs + weight bytes). */
export async function networkArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      captured = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!captured) throw new Error(`saving network ${model.name} produced no artifacts`);
  return captured;
}

export async function detectorArtifacts(d: Detector): Promise<Record<string, tf.io.ModelArtifacts>> {
  const out: Record<string, tf.io.ModelArtifacts> = {};
  for (const [name, net] of Object.entries(d.networks())) out[name] = await networkArtifacts(net);
  return out;
}

/** Rebuild a detector from its config and saved networks (any backend). */
export async function loadDetector(
  config: DetectorConfig,
  artifacts: Record<string, tf.io.ModelArtifacts>,
  source?: FeatureSource,
): Promise<Detector> {
  const expected = Object.keys(createDetectorShapeOnly(config));
  const nets: Record<string, tf.LayersModel> = {};
  for (const name of expected) {
    const a = artifacts[name];
    if (!a) throw new Error(`model is missing network "${name}"`);
    nets[name] = await tf.loadLayersModel(tf.io.fromMemory(a));
  }
  return createDetector(config, nets, source);
}

/** The network names a method has, without building weights twice. */
function createDetectorShapeOnly(config: DetectorConfig): Record<string, true> {
  switch (config.method) {
    case 'patchcore':
      // An ONNX backbone lives in the model folder as backbone.onnx, not as a tfjs network.
      return config.backbone === ONNX_BACKBONE
        ? { memory_bank: true }
        : { backbone: true, memory_bank: true };
    case 'ganomaly-features': {
      const nets = { encoder_g: true, decoder_g: true, encoder_e: true, discriminator: true } as const;
      return config.backbone === ONNX_BACKBONE ? nets : { backbone: true, ...nets };
    }
    case 'ganomaly-fusion':
      return {
        encoder_g: true,
        decoder_g: true,
        encoder_e: true,
        discriminator: true,
        bank_latent: true,
        bank_discriminator: true,
      };
    case 'ganomaly':
      return { encoder_g: true, decoder_g: true, encoder_e: true, discriminator: true };
    case 'egbad':
      return { encoder: true, generator: true, discriminator: true };
    case 'anogan':
      return { generator: true, discriminator: true };
  }
}

/** Named tensors <-> bytes (for checkpoints: optimiser state and best weights). */
export async function encodeTensors(
  named: NamedTensor[],
): Promise<{ specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer }> {
  const r = await tf.io.encodeWeights(named);
  const data = r.data instanceof ArrayBuffer ? r.data : tf.io.concatenateArrayBuffers(r.data);
  return { specs: r.specs, data };
}

export function decodeTensors(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): NamedTensor[] {
  const map = tf.io.decodeWeights(data, specs);
  return Object.entries(map).map(([name, tensor]) => ({ name, tensor }));
}

/** All networks' weights as named tensors (clones: safe to keep while training goes on). */
export function snapshotWeights(d: Detector): NamedTensor[] {
  return Object.entries(d.networks()).flatMap(([net, m]) =>
    m.getWeights().map((w, i) => ({ name: `${net}/${i}`, tensor: w.clone() })),
  );
}

export function restoreWeights(d: Detector, named: NamedTensor[]): void {
  for (const [net, m] of Object.entries(d.networks())) {
    const mine = named.filter((n) => n.name.startsWith(`${net}/`)).sort((a, b) => idx(a.name) - idx(b.name));
    if (mine.length !== m.getWeights().length)
      throw new Error(`checkpoint has ${mine.length} weights for ${net}, model has ${m.getWeights().length}`);
    m.setWeights(mine.map((n) => n.tensor));
  }
}

function idx(name: string): number {
  return Number(name.slice(name.lastIndexOf('/') + 1));
}
