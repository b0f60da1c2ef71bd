// An engineer's own backbone as an ONNX file: the test writes a tiny fully convolutional one itself (two
// strided 3x3 convolutions with ReLU, fixed pseudo-random weights, dynamic height and width, two named
// outputs), trains PatchCore on it through trainModel, and checks the model folder carries it, that it loads
// back and passes the ONNX Runtime parity check (backbone session + exported head vs. the same backbone with
// the head in tfjs), and that a dark pit on a part is where the map peaks.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, selectBackend } from '../../../src/ml';
import { DataType, encodeModel } from '../../../src/ml/onnx/proto';
import { trainModel } from '../../../src/main/tasks/train-model';
import { BACKBONE_ONNX_FILE, loadModel } from '../../../src/main/io/model-store';
import { chooseEngine } from '../../../src/main/station/engine-choice';
import { loadImage } from '../../../src/main/io/images';
import { scoreImages } from '../../../src/ml/score';
import { tempDir } from '../../helpers/fixtures';
import { texturedPart } from '../../helpers/synthetic';

const W = 160;
const H = 120;

/** A two-layer conv net as ONNX bytes: image [1,3,H,W] -> feat_a [1,8,H/2,W/2] -> feat_b [1,16,H/4,W/4]. */
function tinyBackbone(): Uint8Array {
  const rng = new Rng(7);
  const weights = (n: number, fanIn: number) =>
    Float32Array.from({ length: n }, () => ((rng.next() * 2 - 1) * Math.sqrt(6 / fanIn)) as number);
  const tensor = (name: string, data: Float32Array, dims: number[]) => ({
    name,
    dims,
    dataType: DataType.FLOAT,
    rawData: new Uint8Array(data.buffer),
  });
  const conv = (input: string, w: string, b: string, output: string) => ({
    name: output,
    opType: 'Conv',
    input: [input, w, b],
    output: [output],
    attribute: [
      { name: 'kernel_shape', type: 7, ints: [3, 3] },
      { name: 'strides', type: 7, ints: [2, 2] },
      { name: 'pads', type: 7, ints: [1, 1, 1, 1] },
    ],
  });
  const relu = (input: string, output: string) => ({
    name: output,
    opType: 'Relu',
    input: [input],
    output: [output],
    attribute: [],
  });
  const info = (name: string, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'test',
    producerVersion: '1',
    graph: {
      name: 'tiny-backbone',
      node: [
        conv('image', 'w1', 'b1', 'c1'),
        relu('c1', 'feat_a'),
        conv('feat_a', 'w2', 'b2', 'c2'),
        relu('c2', 'feat_b'),
      ],
      initializer: [
        tensor('w1', weights(8 * 3 * 9, 27), [8, 3, 3, 3]),
        tensor('b1', new Float32Array(8), [8]),
        tensor('w2', weights(16 * 8 * 9, 72), [16, 8, 3, 3]),
        tensor('b2', new Float32Array(16), [16]),
      ],
      input: [info('image', [1, 3, 'H', 'W'])],
      output: [info('feat_a', [1, 8, 'h', 'w']), info('feat_b', [1, 16, 'h2', 'w2'])],
    },
    metadataProps: [],
  } as Parameters<typeof encodeModel>[0]);
}

const t = tempDir('station-onnx-backbone-');
const good = join(t.dir, 'good');
const backboneFile = join(t.dir, 'tiny-backbone.onnx');
const modelDir = join(t.dir, 'model');

async function writePart(file: string, seed: number, defect?: 'spot'): Promise<Uint8Array> {
  const { sample, mask } = texturedPart({ width: W, height: H, channels: 1, seed, defect });
  await sharp(Buffer.from(sample.data), { raw: { width: W, height: H, channels: 1 } })
    .png()
    .toFile(file);
  return mask;
}

beforeAll(async () => {
  mkdirSync(good, { recursive: true });
  for (let i = 0; i < 60; i++) await writePart(join(good, `g${String(i).padStart(2, '0')}.png`), 100 + i);
  writeFileSync(backboneFile, tinyBackbone());
}, 60_000);
afterAll(() => t.cleanup());

describe('PatchCore on an ONNX backbone the engineer supplies', () => {
  it('trains, keeps the backbone in the model folder, loads back and passes the parity check', async () => {
    const r = await trainModel({
      data: good,
      out: modelDir,
      method: 'patchcore',
      size: 0,
      channels: 1,
      epochs: 1,
      holdout: 0.4,
      overrides: { scale: 1, bankSize: 500 },
      backboneOnnx: { file: backboneFile, outputs: ['feat_a', 'feat_b'], normalisation: 'unit' },
      backend: await selectBackend('wasm'),
    });
    expect(r.meta.config).toMatchObject({
      backbone: 'onnx',
      layers: ['feat_a', 'feat_b'],
      normalisation: 'unit',
    });
    expect(r.meta.networks).toEqual(['memory_bank']);
    expect(existsSync(join(modelDir, BACKBONE_ONNX_FILE))).toBe(true);
    expect(existsSync(join(modelDir, 'model.onnx'))).toBe(true);

    const model = await loadModel(modelDir);
    const choice = await chooseEngine(modelDir, model, 'auto', 1);
    try {
      expect(choice.engine.kind).toBe('onnxruntime');
      expect(choice.reason).toMatch(/parity with tfjs/);
      // A dark pit: the hottest point of the map is on it, and the part scores above the good ones.
      const pit = join(t.dir, 'pit.png');
      const mask = await writePart(pit, 999, 'spot');
      const [scored] = await scoreImages(choice.engine, [await loadImage(pit, model.load)], model.input, {
        maps: true,
      });
      let at = 0;
      for (let i = 1; i < scored.map!.length; i++) if (scored.map![i] > scored.map![at]) at = i;
      let near = Infinity;
      for (let i = 0; i < mask.length; i++)
        if (mask[i])
          near = Math.min(near, Math.hypot((i % W) - (at % W), Math.floor(i / W) - Math.floor(at / W)));
      expect(near).toBeLessThanOrEqual(6);
      expect(scored.score).toBeGreaterThan(model.meta.calibration!.threshold);
    } finally {
      await choice.engine.dispose();
    }
  }, 120_000);

  it('refuses a backbone without the named outputs, before any training', async () => {
    await expect(
      trainModel({
        data: good,
        out: join(t.dir, 'bad'),
        method: 'patchcore',
        size: 0,
        channels: 1,
        epochs: 1,
        backboneOnnx: { file: backboneFile, outputs: ['layer3'], normalisation: 'imagenet' },
        backend: await selectBackend('wasm'),
      }),
    ).rejects.toThrow(/no output layer3; it has feat_a, feat_b/);
  });
});
