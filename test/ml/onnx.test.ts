// ONNX export and the ONNX Runtime engine: GANomaly and EGBAD (both L_D variants), trained a few steps so
// BatchNorm moving statistics are not their initial values, saved and loaded through the model format,
// exported, and scored by ONNX Runtime to within PARITY_TOLERANCE of tfjs on every output (scores, errors,
// maps, reconstructions) at batch 1 and batch 5. AnoGAN refuses to export; a mismatch is caught.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDetector,
  defaultConfig,
  detectorArtifacts,
  loadDetector,
  toBatch,
  toImageBatch,
  TfjsEngine,
  type Detector,
  type DetectorConfig,
  type ImageBatch,
  type Method,
} from '../../src/ml';
import {
  checkParity,
  exportOnnx,
  onnxMetadata,
  OnnxEngine,
  ONNX_OPSET,
  PARITY_TOLERANCE,
  type ParityReport,
} from '../../src/ml/onnx';
import { decodeModel, encodeModel, ONNX_PROTO } from '../../src/ml/onnx/proto';
import { syntheticPart, syntheticSet } from '../helpers/synthetic';
import { useWasm } from '../helpers/tf-setup';

beforeAll(async () => {
  await useWasm();
});

const SMALL = { ngf: 8, ndf: 8, latent: 16 };

function config(method: Method, size: number, channels: 1 | 3, overrides: object = {}): DetectorConfig {
  return defaultConfig(method, size, channels, { ...SMALL, ...overrides } as Partial<DetectorConfig>);
}

/** A few training steps on good parts, so BatchNorm moving statistics move away from 0 and 1. */
function trained(cfg: DetectorConfig, steps = 3): Detector {
  const d = createDetector(cfg);
  const x = toBatch(syntheticSet(8, { size: cfg.size, channels: cfg.channels, seed: 3 }));
  for (let i = 0; i < steps; i++) d.trainStep(x);
  x.dispose();
  return d;
}

/** Five images to score: three good parts, two with a defect. */
function scoringBatch(size: number, channels: 1 | 3): ImageBatch {
  const good = syntheticSet(3, { size, channels, seed: 9 });
  const bad = [11, 12].map((seed) => syntheticPart({ size, channels, seed, defect: true }).sample);
  return toImageBatch([...good, ...bad]);
}

function slice(b: ImageBatch, i: number): ImageBatch {
  const per = b.height * b.width * b.channels;
  return { ...b, n: 1, data: b.data.slice(i * per, (i + 1) * per) };
}

/** Worst relative error per output and case, printed at the end (the figures quoted in reviews). */
const measured: Record<string, Omit<ParityReport, 'ok'>> = {};

afterAll(() => {
  console.log('ONNX Runtime vs tfjs, max relative error per output:');
  console.table(measured);
});

const CASES = [
  { name: 'GANomaly 32px gray', method: 'ganomaly', size: 32, channels: 1, overrides: {} },
  { name: 'GANomaly 64px colour', method: 'ganomaly', size: 64, channels: 3, overrides: {} },
  { name: "EGBAD 'fm' 32px colour", method: 'egbad', size: 32, channels: 3, overrides: { dLoss: 'fm' } },
  { name: "EGBAD 'ce' 32px gray", method: 'egbad', size: 32, channels: 1, overrides: { dLoss: 'ce' } },
] as const;

describe.each(CASES)('$name', ({ name, method, size, channels, overrides }) => {
  const cfg = config(method, size, channels, overrides);
  let original: Detector;
  let tfjs: TfjsEngine;
  let onnx: OnnxEngine;
  let bytes: Uint8Array;

  beforeAll(async () => {
    original = trained(cfg);
    // As the station does it: the model folder's networks, loaded back, are what gets exported.
    const loaded = await loadDetector(cfg, await detectorArtifacts(original));
    bytes = exportOnnx(loaded);
    tfjs = new TfjsEngine(loaded);
    onnx = await OnnxEngine.create(bytes);
  });

  afterAll(async () => {
    await onnx?.dispose();
    await tfjs?.dispose();
    original?.dispose();
  });

  it('exports the same model from the trained and the reloaded networks', () => {
    expect(Buffer.from(exportOnnx(original)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('scores like tfjs at batch 5 and batch 1 (scores, errors, maps, reconstructions)', async () => {
    const batch = scoringBatch(size, channels);
    const reports = [await checkParity(onnx, tfjs, batch)];
    for (let i = 0; i < batch.n; i++) reports.push(await checkParity(onnx, tfjs, slice(batch, i)));
    const worst = (k: keyof Omit<ParityReport, 'ok'>) => Math.max(...reports.map((r) => r[k]));
    measured[name] = {
      score: worst('score'),
      error: worst('error'),
      map: worst('map'),
      reconstruction: worst('reconstruction'),
    };
    for (const r of reports) expect(r.ok, JSON.stringify(r)).toBe(true);
    for (const e of Object.values(measured[name])) expect(e).toBeLessThanOrEqual(PARITY_TOLERANCE);
  });

  it('returns the tfjs layout and fetches only the outputs asked for', async () => {
    const batch = scoringBatch(size, channels);
    const plain = await onnx.score(batch);
    expect(plain.scores).toBeInstanceOf(Float32Array);
    expect(plain.scores.length).toBe(5);
    expect(plain.reconstructionErrors.length).toBe(5);
    expect(plain.maps).toBeUndefined();
    expect(plain.reconstructions).toBeUndefined();

    const full = await onnx.score(batch, { maps: true, reconstructions: true });
    const ref = await tfjs.score(batch, { maps: true, reconstructions: true });
    expect(full.maps!.map((m) => m.length)).toEqual(ref.maps!.map((m) => m.length));
    expect(full.maps![0].length).toBe(size * size);
    expect(full.reconstructions!.map((r) => r.length)).toEqual(Array(5).fill(size * size * channels));
    for (const r of full.reconstructions!) expect(Math.min(...r) >= 0 && Math.max(...r) <= 1).toBe(true);
    // The map of a defective part (the last one) is not blank.
    expect(Math.max(...full.maps![4])).toBeGreaterThan(0);
  });
});

describe('exported model', () => {
  it('is built from the onnx.proto schema beside the code', () => {
    const file = readFileSync(new URL('../../src/ml/onnx/onnx.proto', import.meta.url), 'utf8');
    expect(ONNX_PROTO).toBe(file);
  });

  it('declares opset 17, a dynamic batch and its metadata, and loads from a file in ONNX Runtime', async () => {
    const d = createDetector(config('egbad', 32, 3));
    const bytes = exportOnnx(d);
    d.dispose();
    const model = decodeModel(bytes);
    expect(model.opsetImport).toEqual([{ domain: '', version: ONNX_OPSET }]);
    expect(model.graph.input.map((v) => v.name)).toEqual(['x']);
    expect(model.graph.input[0].type.tensorType.shape.dim).toEqual([
      { dimParam: 'N' },
      { dimValue: 32 },
      { dimValue: 32 },
      { dimValue: 3 },
    ]);
    expect(model.graph.output.map((v) => v.name)).toEqual(['score', 'error', 'map', 'reconstruction']);
    const meta = onnxMetadata(bytes);
    expect(meta).toMatchObject({ method: 'egbad', size: '32', channels: '3', exporter_version: '1' });
    expect(JSON.parse(meta.config)).toMatchObject({ alpha: 0.9, dLoss: 'fm', heatmapSigma: 1 });

    const dir = mkdtempSync(path.join(tmpdir(), 'station-onnx-'));
    try {
      const file = path.join(dir, 'model.onnx');
      writeFileSync(file, bytes);
      const engine = await OnnxEngine.create(file, { threads: 2 });
      expect(engine.kind).toBe('onnxruntime');
      expect(engine.description).toMatch(/^onnxruntime-node 1\.\d+\.\d+ \(cpu, 2 threads\)$/);
      const r = await engine.score(scoringBatch(32, 3));
      expect(r.scores.every(Number.isFinite)).toBe(true);
      await engine.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('blurs the map as residual.ts does for sigma 0 (no blur) and a radius clamped to the map', async () => {
    for (const heatmapSigma of [0, 12]) {
      const d = createDetector(config('ganomaly', 32, 1, { heatmapSigma }));
      const onnx = await OnnxEngine.create(exportOnnx(d));
      const tfjs = new TfjsEngine(d);
      const r = await checkParity(onnx, tfjs, scoringBatch(32, 1));
      expect(r.ok, `sigma ${heatmapSigma}: ${JSON.stringify(r)}`).toBe(true);
      await onnx.dispose();
      await tfjs.dispose();
    }
  });

  it('refuses AnoGAN with a reason', () => {
    const d = createDetector(config('anogan', 32, 1));
    try {
      expect(() => exportOnnx(d)).toThrow(/AnoGAN cannot be exported to ONNX.*gradient/);
    } finally {
      d.dispose();
    }
  });

  it('detects a parity failure (a different model behind the tfjs engine)', async () => {
    const a = createDetector(config('ganomaly', 32, 1, { seed: 1 }));
    const b = createDetector(config('ganomaly', 32, 1, { seed: 2 }));
    const onnx = await OnnxEngine.create(exportOnnx(a));
    const tfjs = new TfjsEngine(b);
    const r = await checkParity(onnx, tfjs, scoringBatch(32, 1));
    expect(r.ok).toBe(false);
    expect(r.score).toBeGreaterThan(PARITY_TOLERANCE);
    await onnx.dispose();
    await tfjs.dispose();
    a.dispose();
  });

  it('refuses an ONNX model that is not a station export', async () => {
    const bytes = encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: 'test',
      producerVersion: '0',
      graph: {
        name: 'identity',
        node: [{ name: 'id', opType: 'Identity', input: ['x'], output: ['y'], attribute: [] }],
        initializer: [],
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } }],
      },
      metadataProps: [],
    });
    await expect(OnnxEngine.create(bytes)).rejects.toThrow(/not an Anomaly Station ONNX model: .*score/);
  });
});
