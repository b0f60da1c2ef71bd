// The PyTorch PatchCore reference for bench:detect (bench/torch_patchcore.py): the same backbone weights,
// exported here layer by layer from the station's own truncated tfjs backbone (no conversion library: the
// layers are few and plain), and the same decoded images (the station's decoder at the model's working size,
// the same train split), so the two AUROCs differ only by the implementations. Run once per (set, config).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { PatchcoreConfig } from '../src/ml';
import { loadBundledBackbone } from '../src/main/io/backbones';
import { mvtecTestSet, splitGoodImages, trainingImages } from '../src/main/io/datasets';
import { loadImages } from '../src/main/io/images';
import { inputHandling, type LoadedModel } from '../src/main/io/model-store';

export interface PatchcoreReference {
  auroc: number;
  trainImages: number;
  testImages: number;
  bankRows: number;
  trainSeconds: number;
  scoreImagesPerSecond: number;
  torch: string;
  threads: number;
  command: string;
}

/** The backbone as a list of plain layers + one float32 blob, for torch_patchcore.py to rebuild. */
function exportBackbone(model: tf.LayersModel, folder: string): void {
  const blobs: Float32Array[] = [];
  let offset = 0;
  const layers = model.layers
    .filter((l) => l.getClassName() !== 'InputLayer')
    .map((l) => {
      const cfg = l.getConfig() as Record<string, unknown>;
      const weights = l.getWeights().map((w) => {
        const data = w.dataSync() as Float32Array;
        blobs.push(data);
        const entry = { shape: w.shape, offset };
        offset += data.length;
        return entry;
      });
      const inbound = (l as unknown as { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] })
        .inboundNodes[0];
      return {
        kind: l.getClassName(),
        name: l.name,
        inputs: inbound.inboundLayers.map((p) => p.name),
        weights,
        padding: cfg.padding,
        kernel: cfg.kernelSize,
        strides: cfg.strides,
        epsilon: cfg.epsilon,
        center: cfg.center,
        scale: cfg.scale,
        maxValue: cfg.maxValue ?? null,
      };
    });
  const blob = new Float32Array(offset);
  let o = 0;
  for (const b of blobs) {
    blob.set(b, o);
    o += b.length;
  }
  writeFileSync(
    join(folder, 'backbone.json'),
    JSON.stringify({
      input: model.inputLayers[0].name,
      outputs: model.outputLayers.map((l) => l.name),
      layers,
    }),
  );
  writeFileSync(join(folder, 'backbone.bin'), new Uint8Array(blob.buffer));
}

/** Dump the train split and the test set as the station decodes them, then run the torch reference. */
export async function runPatchcoreReference(
  model: LoadedModel,
  data: string,
  folder: string,
  threads: number,
): Promise<PatchcoreReference> {
  const config = model.meta.config as unknown as PatchcoreConfig;
  mkdirSync(folder, { recursive: true });
  const backbone = await loadBundledBackbone(config.backbone);
  exportBackbone(backbone, folder);
  backbone.dispose();
  const { load } = inputHandling(model.meta.input);
  const split = splitGoodImages(await trainingImages(data));
  const tests = await mvtecTestSet(data);
  const train = await loadImages(split.train, load);
  const test = await loadImages(
    tests.map((t) => t.file),
    load,
  );
  const labelOf = new Map(tests.map((t) => [t.file, t.label]));
  const parts: Uint8Array[] = [];
  let offset = 0;
  const entries = (samples: typeof train.samples) =>
    samples.map((s) => {
      parts.push(s.data);
      const e = { w: s.width, h: s.height, c: s.channels, offset };
      offset += s.data.length;
      return e;
    });
  const meta = {
    config,
    train: entries(train.samples),
    test: entries(test.samples),
    labels: test.files.map((f) => labelOf.get(f)),
  };
  writeFileSync(join(folder, 'images.json'), JSON.stringify(meta));
  writeFileSync(join(folder, 'images.bin'), Buffer.concat(parts));
  const args = ['bench/torch_patchcore.py', '--folder', folder, '--threads', String(threads)];
  const out = execFileSync('/usr/bin/python3', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return {
    ...(JSON.parse(out.trim().split('\n').at(-1)!) as Omit<PatchcoreReference, 'command'>),
    command: `/usr/bin/python3 ${args.join(' ')}`,
  };
}
