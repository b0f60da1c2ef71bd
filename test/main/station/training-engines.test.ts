// Training jobs through the StationApi (a real worker thread, real tfjs training): live progress, cancel,
// resume after a restart, the result registered as a model; and the scoring engine each model gets.
import { mkdirSync, writeFileSync, existsSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StationEvent, TrainingJob } from '../../../src/common/api';
import { loadModel } from '../../../src/main/io/model-store';
import { chooseEngine, probeBatch } from '../../../src/main/station/engine-choice';
import { validated } from '../../../src/main/station/in-process';
import { Station } from '../../../src/main/station/station';
import { trainModel } from '../../../src/main/tasks/train-model';
import { relativeError, selectBackend, TfjsEngine } from '../../../src/ml';
import { tempDir } from '../../helpers/fixtures';
import { trainTinyModel, waitFor, writePart } from '../../helpers/station-fixtures';

const t = tempDir();
const good = join(t.dir, 'good');
let tiny: string;

beforeAll(async () => {
  await selectBackend('wasm');
  mkdirSync(good);
  for (let i = 0; i < 40; i++) await writePart(join(good, `g${i}.png`), 3000 + i);
  tiny = await trainTinyModel(t.dir);
}, 120_000);
afterAll(() => t.cleanup());

describe('training jobs', () => {
  it('trains in a worker with live progress, cancels, resumes, and shows as interrupted after a restart', async () => {
    const data = join(t.dir, 'station');
    let station = await Station.open({ dataDir: data, backend: 'wasm' });
    let api = validated(station);
    const events: StationEvent[] = [];
    station.onEvent((e) => events.push(e));
    const job = await api.startTraining({
      name: 'job-model',
      data: good,
      method: 'ganomaly',
      size: 32,
      channels: 1,
      epochs: 40,
      batchSize: 16,
      holdout: 0.5,
    });
    expect(job.state).toBe('running');
    const progress = () =>
      events.filter((e) => e.type === 'training-progress').map((e) => (e as { job: TrainingJob }).job);
    await waitFor(
      'an epoch done',
      () => progress().some((j) => (j.progress?.epoch ?? 0) >= 1 && j.progress?.validationLoss !== null),
      90_000,
    );
    // The API answers while training runs (training is in its own thread).
    const t0 = Date.now();
    await api.listLines({});
    expect(Date.now() - t0).toBeLessThan(1000);
    await api.cancelTraining({ jobId: job.id });
    await waitFor('cancelled', () => progress().some((j) => j.state === 'cancelled'), 60_000);
    expect(existsSync(join(data, 'models', 'job-model', 'checkpoint', 'checkpoint.json'))).toBe(true);

    // Resume it, then stop the station while it runs: the job shows as interrupted after the restart.
    await api.resumeTraining({ jobId: job.id });
    await waitFor('running again', () => progress().filter((j) => j.state === 'running').length >= 2, 30_000);
    await station.close();
    station = await Station.open({ dataDir: data, backend: 'wasm' });
    api = validated(station);
    station.onEvent((e) => events.push(e));
    const [after] = await api.listTrainingJobs({});
    expect(after).toMatchObject({ id: job.id, state: 'interrupted' });
    await expect(api.cancelTraining({ jobId: job.id })).rejects.toThrow(/not running/);
    await station.close();
  }, 240_000);

  it('finishes a short job and registers the model with its calibration', async () => {
    const station = await Station.open({ dataDir: join(t.dir, 'station2'), backend: 'wasm' });
    const api = validated(station);
    const events: StationEvent[] = [];
    station.onEvent((e) => events.push(e));
    const job = await api.startTraining({
      name: 'short',
      data: good,
      method: 'ganomaly',
      size: 32,
      channels: 1,
      epochs: 1,
      batchSize: 16,
      holdout: 0.5,
    });
    const done = await waitFor(
      'done',
      () =>
        events
          .map((e) => (e.type === 'training-progress' ? e.job : undefined))
          .find((j) => j?.id === job.id && j.state !== 'running'),
      120_000,
    );
    expect(done).toMatchObject({ state: 'done', error: null });
    const models = await api.listModels({});
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ id: done.modelId, method: 'ganomaly', size: 32, channels: 1 });
    expect(models[0].threshold).toBeGreaterThan(0);
    await expect(
      api.startTraining({ name: 'short', data: good, method: 'ganomaly', size: 32, channels: 1, epochs: 1 }),
    ).rejects.toThrow(/already exists/);
    await expect(
      api.startTraining({
        name: '../escape',
        data: good,
        method: 'ganomaly',
        size: 32,
        channels: 1,
        epochs: 1,
      }),
    ).rejects.toThrow(/name/);
    await station.close();
  }, 180_000);
});

describe('engine choice', () => {
  it('scores an exported model on ONNX Runtime after the parity check; tfjs when forced', async () => {
    expect(existsSync(join(tiny, 'model.onnx'))).toBe(true);
    const m = await loadModel(tiny);
    const auto = await chooseEngine(tiny, m, 'auto', 1);
    expect(auto.engine.kind).toBe('onnxruntime');
    expect(auto.reason).toMatch(/parity with tfjs \d/);
    await auto.engine.dispose();
    const m2 = await loadModel(tiny);
    const forced = await chooseEngine(tiny, m2, 'tfjs', 1);
    expect(forced.engine.kind).toBe('tfjs');
    await forced.engine.dispose();
  });

  it('exports again from the weights when model.onnx does not reproduce tfjs, and says why', async () => {
    // A model folder whose model.onnx belongs to another model (same shapes, other weights).
    const other = join(t.dir, 'other');
    await trainModel({
      data: good,
      out: other,
      method: 'ganomaly',
      size: 32,
      channels: 1,
      epochs: 1,
      batchSize: 16,
      holdout: 0.5,
      patch: { workingSize: 0, stepsPerEpoch: 2 },
      overrides: { ngf: 8, ndf: 8, latent: 16, seed: 7 },
      backend: await selectBackend('wasm'),
    });
    copyFileSync(join(tiny, 'model.onnx'), join(other, 'model.onnx'));
    const m = await loadModel(other);
    const choice = await chooseEngine(other, m, 'auto', 1);
    // The stored graph fails the check; the one exported now from the model's own weights passes it.
    expect(choice.engine.kind).toBe('onnxruntime');
    expect(choice.reason).toMatch(/its model\.onnx failed: parity check failed: .*; re-exported/);
    const again = await loadModel(other);
    const scored = await choice.engine.score(probeBatch(32, 1));
    const reference = await new TfjsEngine(again.detector).score(probeBatch(32, 1));
    expect(relativeError(scored.scores, reference.scores)).toBeLessThan(1e-4);
    await choice.engine.dispose();
    again.detector.dispose();
  }, 60_000);

  it('keeps AnoGAN on tfjs (its latent search needs gradients) and writes no model.onnx for it', async () => {
    const out = join(t.dir, 'anogan');
    await trainModel({
      data: good,
      out,
      method: 'anogan',
      size: 32,
      channels: 1,
      epochs: 1,
      batchSize: 16,
      holdout: 0.5,
      overrides: { ngf: 8, ndf: 8, latent: 16, searchSteps: 5 } as never,
      backend: await selectBackend('wasm'),
    });
    expect(existsSync(join(out, 'model.onnx'))).toBe(false);
    const choice = await chooseEngine(out, await loadModel(out), 'auto', 1);
    expect(choice.engine.kind).toBe('tfjs');
    expect(choice.reason).toMatch(/gradients/);
    await choice.engine.dispose();
    writeFileSync(join(t.dir, 'unused'), '');
  }, 60_000);

  it('keeps ganomaly-fusion on tfjs, with its memory banks and held-out statistics in the model folder', async () => {
    const out = join(t.dir, 'fusion');
    const common = {
      data: good,
      out,
      method: 'ganomaly-fusion' as const,
      size: 32,
      channels: 1 as const,
      epochs: 1,
      batchSize: 16,
      holdout: 0.5,
      overrides: { ngf: 8, ndf: 8, latent: 16 } as never,
      backend: await selectBackend('wasm'),
    };
    await expect(trainModel({ ...common, patch: { workingSize: 64 } })).rejects.toThrow(/no patch mode/);
    const { meta } = await trainModel(common);
    expect(existsSync(join(out, 'model.onnx'))).toBe(false);
    expect(meta.networks).toEqual(expect.arrayContaining(['bank_latent', 'bank_discriminator']));
    const stats = (meta.config as { fusion?: { mean: number[]; std: number[] } }).fusion!;
    expect(stats.mean).toHaveLength(4);
    stats.std.forEach((s) => expect(s).toBeGreaterThan(0));
    // The bank holds the training images: 40 good parts less the half held out.
    const loaded = await loadModel(out);
    expect(loaded.detector.networks().bank_latent.outputs[0].shape).toEqual([null, meta.training!.images]);
    const choice = await chooseEngine(out, loaded, 'auto', 1);
    expect(choice.engine.kind).toBe('tfjs');
    expect(choice.reason).toMatch(/nearest-neighbour/);
    await choice.engine.dispose();
    const again = await loadModel(out);
    await expect(chooseEngine(out, again, 'onnxruntime', 1)).rejects.toThrow(/ONNX Runtime/);
    again.detector.dispose();
  }, 60_000);
});
