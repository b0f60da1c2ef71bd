// Model format: a detector saved to standard tfjs artifacts loads back with identical scores, on wasm and
// on the cpu reference backend (to 1e-4 relative), for every method; damaged or foreign metadata is refused
// with a message that says what is wrong.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createDetector,
  defaultConfig,
  detectorArtifacts,
  loadDetector,
  FEATURE_METHODS,
  METHODS,
  parseModelMeta,
  toBatch,
  FORMAT_VERSION,
} from '../../src/ml';
import { syntheticSet } from '../helpers/synthetic';
import { useWasm } from '../helpers/tf-setup';

beforeAll(async () => {
  await useWasm();
});

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return m / scale;
};

// The GAN methods; PatchCore's round trip (wasm, cpu, ONNX Runtime) is in test/ml/patchcore.test.ts.
describe.each(METHODS.filter((m) => !FEATURE_METHODS.includes(m)))('%s round trip', (method) => {
  it('loads back and scores identically on wasm and cpu', async () => {
    const config = defaultConfig(method, 32, 3, {
      ngf: 8,
      ndf: 8,
      latent: 16,
      ...(method === 'anogan' ? { searchSteps: 3 } : {}),
    });
    const images = syntheticSet(3, { size: 32, channels: 3 });
    await tf.setBackend('wasm');
    const d = createDetector(config);
    const x = toBatch(images);
    d.trainStep(x); // moving statistics away from their initial values
    // ganomaly-fusion: memory banks and score statistics, which travel in the networks and the config.
    await d.fitGoodImages?.(images, images, { batchSize: 2 });
    const savedConfig = d.config;
    const ref = await d.score(x, { maps: true });
    const artifacts = await detectorArtifacts(d);
    d.dispose();
    x.dispose();

    const again = await loadDetector(savedConfig, artifacts);
    const x2 = toBatch(images);
    const same = await again.score(x2, { maps: true });
    x2.dispose();
    again.dispose();
    expect(maxRel(same.scores, ref.scores)).toBeLessThan(1e-6);

    await tf.setBackend('cpu');
    try {
      const onCpu = await loadDetector(savedConfig, artifacts);
      const x3 = toBatch(images);
      const cpu = await onCpu.score(x3, { maps: true });
      x3.dispose();
      onCpu.dispose();
      // ganomaly-fusion divides by the held-out images' spread, which in a 1-step model is ~1e-7 for the
      // latent gap, so float differences between backends grow by that factor.
      expect(maxRel(cpu.scores, ref.scores)).toBeLessThan(method === 'ganomaly-fusion' ? 3e-3 : 1e-4);
      expect(maxRel(cpu.maps![0], ref.maps![0])).toBeLessThan(1e-4);
    } finally {
      await tf.setBackend('wasm');
    }
  });
});

describe('meta.json validation', () => {
  const good = {
    format: 'anomaly-station-model',
    formatVersion: FORMAT_VERSION,
    name: 'm',
    createdAt: '2026-01-01T00:00:00Z',
    method: 'ganomaly',
    config: {},
    networks: ['encoder_g'],
    input: { size: 32, channels: 1, mode: 'resize' },
    normalisation: { pixels: 'uint8', range: [-1, 1] },
  };
  it('accepts a valid meta', () => {
    expect(parseModelMeta(good).name).toBe('m');
  });
  it('refuses a foreign file', () => {
    expect(() => parseModelMeta({ hello: 1 })).toThrow(/not an Anomaly Station model/);
  });
  it('refuses a newer format version', () => {
    expect(() => parseModelMeta({ ...good, formatVersion: FORMAT_VERSION + 1 })).toThrow(
      /newer than this station/,
    );
  });
  it('names the damaged field', () => {
    expect(() => parseModelMeta({ ...good, input: { ...good.input, channels: 2 } })).toThrow(
      /input\.channels/,
    );
  });
});
