// Records the station stores, made up for tests and benchmarks that fill a database directly (no training):
// a model's meta.json and a flagged part's thumbnail + heatmap PNGs in the artifact store.
import sharp from 'sharp';
import type { ModelMeta } from '../../src/ml';
import { heatmapRgba } from '../../src/ml/colormap';
import type { ArtifactStore } from '../../src/main/station/artifacts';

/** A calibrated GANomaly's meta.json (64 px gray, resize mode) with the given name and threshold. */
export function fakeModelMeta(
  name: string,
  threshold: number,
  dataHash = `${name}-data-hash-0123456789abcdef0123456789abcdef`,
): ModelMeta {
  return {
    format: 'anomaly-station-model',
    formatVersion: 1,
    name,
    createdAt: '2025-02-01T08:00:00.000Z',
    method: 'ganomaly',
    config: { latent: 100 },
    networks: ['encoder_g', 'decoder_g', 'encoder_e', 'discriminator'],
    input: { size: 64, channels: 1, mode: 'resize' },
    normalisation: { pixels: 'uint8', range: [-1, 1] },
    calibration: {
      method: 'quantile',
      targetFalseAlarmRate: 0.01,
      threshold,
      goodStats: {
        n: 200,
        mean: 0.5,
        std: 0.1,
        min: 0.2,
        max: 0.9,
        p50: 0.5,
        p95: 0.7,
        p99: 0.8,
        p995: 0.85,
      },
      low: 0.2,
      high: 0.9,
      defectCount: 0,
    },
    training: {
      dataHash,
      images: 200,
      validationImages: 20,
      calibrationImages: 20,
      epochs: 10,
      bestEpoch: 8,
      bestValidationLoss: 0.01,
      seconds: 60,
      backend: 'wasm',
      batchSize: 16,
    },
  };
}

/**
 * A gray part with a bright blob (the thumbnail, `side` px) and its Turbo heatmap (RGBA, `mapSide` px, as the
 * station stores them), put into the artifact store; different seeds move the blob.
 */
export async function artifactPair(
  store: ArtifactStore,
  seed: number,
  side = 96,
  mapSide = 32,
): Promise<{ thumb: string; heat: string }> {
  const gray = Buffer.alloc(side * side);
  const margin = Math.round(side / 5);
  const [bx, by] = [
    margin + ((seed * 17) % (side - 2 * margin)),
    margin + ((seed * 29) % (side - 2 * margin)),
  ];
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const blob = Math.hypot(x - bx, y - by) < side / 12;
      gray[y * side + x] = blob ? 250 : 90 + 40 * Math.sin(x / 5) * Math.cos(y / 7);
    }
  const scale = side / mapSide;
  const map = new Float32Array(mapSide * mapSide);
  for (let y = 0; y < mapSide; y++)
    for (let x = 0; x < mapSide; x++)
      map[y * mapSide + x] = Math.exp(-((x - bx / scale) ** 2 + (y - by / scale) ** 2) / (mapSide / 2.5));
  const thumb = await sharp(gray, { raw: { width: side, height: side, channels: 1 } })
    .png()
    .toBuffer();
  const heat = await sharp(Buffer.from(heatmapRgba(map, mapSide, mapSide, { vmin: 0, vmax: 1 })), {
    raw: { width: mapSide, height: mapSide, channels: 4 },
  })
    .png()
    .toBuffer();
  return { thumb: await store.put(thumb), heat: await store.put(heat) };
}
