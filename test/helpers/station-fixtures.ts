// Fixtures for station tests: a small real model trained once per test file on synthetic parts, and
// camera images written the way a camera would (a temp name renamed into place, or written slowly).
import { mkdirSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { trainModel } from '../../src/main/tasks/train-model';
import { selectBackend } from '../../src/ml';
import { writeGray } from './fixtures';
import { syntheticPart, texturedPart, type TexturedOptions } from './synthetic';

export const PART_SIZE = 48;

/**
 * Train a tiny GANomaly on 60 synthetic good parts: 32 px patches of the 48 px parts (patch mode, so the
 * image score is the stitched residual map's maximum, which finds the blob), narrow networks; ~10 s on wasm.
 */
export async function trainTinyModel(root: string, name = 'tiny'): Promise<string> {
  const data = join(root, `${name}-good`);
  mkdirSync(data, { recursive: true });
  for (let i = 0; i < 60; i++) await writePart(join(data, `${String(i).padStart(3, '0')}.png`), 1000 + i);
  const out = join(root, name);
  await trainModel({
    data,
    out,
    method: 'ganomaly',
    size: 32,
    channels: 1,
    epochs: 3,
    batchSize: 16,
    holdout: 0.4,
    patch: { workingSize: 0, stepsPerEpoch: 8 },
    overrides: { ngf: 8, ndf: 8, latent: 16, lr: 1e-3 },
    backend: await selectBackend('wasm'),
  });
  return out;
}

/** Textured parts' size for PatchCore fixtures: a native-resolution "machined surface" (helpers/synthetic.ts). */
export const TEXTURED = { width: 200, height: 150 };

/**
 * Fit a tiny PatchCore on 40 textured good parts (stripe pitch 3: the original lot); half held out, so about 10
 * calibrate the threshold. Seconds on wasm: nothing is trained, the bundled backbone's features are kept.
 */
export async function trainTinyPatchcore(root: string, name = 'patchcore'): Promise<string> {
  const data = join(root, `${name}-good`);
  mkdirSync(data, { recursive: true });
  for (let i = 0; i < 40; i++)
    await writeTextured(join(data, `${String(i).padStart(3, '0')}.png`), { seed: 100 + i });
  const out = join(root, name);
  await trainModel({
    data,
    out,
    method: 'patchcore',
    size: 0,
    channels: 1,
    epochs: 1,
    holdout: 0.5,
    backend: await selectBackend('wasm'),
  });
  return out;
}

/** Write a textured part (pitch 3 unless said; a drifted lot is pitch 6) as a gray PNG. */
export async function writeTextured(
  file: string,
  o: Partial<Omit<TexturedOptions, 'width' | 'height' | 'channels'>> & { seed: number },
): Promise<void> {
  const p = texturedPart({ ...TEXTURED, channels: 1, pitch: 3, ...o });
  await writeGray(file, p.sample.data, TEXTURED.width, TEXTURED.height);
}

/** Drop a textured part into a camera folder the way dropPart does (temp name, then rename). */
export async function dropTextured(
  dir: string,
  name: string,
  o: Parameters<typeof writeTextured>[1],
): Promise<string> {
  const tmp = join(dir, `.${name}.partial`);
  await writeTextured(tmp, o);
  const file = join(dir, name);
  await rename(tmp, file);
  return file;
}

/** Write a synthetic part (good, or with a bright blob) as a gray PNG. */
export async function writePart(file: string, seed: number, defect = false): Promise<void> {
  const p = syntheticPart({ size: PART_SIZE, channels: 1, seed, defect });
  await writeGray(file, p.sample.data, PART_SIZE, PART_SIZE);
}

/** Write like a camera that exports atomically: a hidden temp name, then rename into the folder. */
export async function dropPart(dir: string, name: string, seed: number, defect = false): Promise<string> {
  const tmp = join(dir, `.${name}.partial`);
  await writePart(tmp, seed, defect);
  const file = join(dir, name);
  await rename(tmp, file);
  return file;
}

/** Wait until `check` returns a value (polling), or fail with `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
