// updateModel on real models: a GANomaly is fine-tuned on its old good images plus new ones (progress per
// epoch, cancel leaves nothing behind, the parent's folder is only read), refusals are clear, and a PatchCore
// whose training folder is gone is calibrated on its parent's kept scores and says so.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type BackendStatus, type TrainProgress } from '../../../src/ml';
import { splitGoodImages, trainingImages } from '../../../src/main/io/datasets';
import { readModelMeta } from '../../../src/main/io/model-store';
import { updateModel, type ImageRef, type UpdateModelOptions } from '../../../src/main/tasks/update-model';
import { tempDir } from '../../helpers/fixtures';
import { trainTinyModel, trainTinyPatchcore, writePart, writeTextured } from '../../helpers/station-fixtures';

const t = tempDir('update-model-');
let backend: BackendStatus;
let gan: string;
let patchcore: string;
const lineage = new TextEncoder().encode('{"format":"anomaly-station-lineage"}');

beforeAll(async () => {
  backend = await selectBackend('wasm');
  gan = await trainTinyModel(t.dir, 'gan');
  patchcore = await trainTinyPatchcore(t.dir, 'pc');
}, 240_000);
afterAll(() => t.cleanup());

const refs = (files: string[]): ImageRef[] => files.map((file, i) => ({ id: i + 1, file, asSeen: false }));

/** sha256 over every file under a folder (names and bytes). */
function hashFolder(dir: string): string {
  const h = createHash('sha256');
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name))
    .sort())
    h.update(e).update(readFileSync(e));
  return h.digest('hex');
}

/** New good parts and defects of the tiny GAN's kind, as camera-size files. */
async function ganImages(): Promise<{ added: ImageRef[]; heldOut: ImageRef[]; defects: ImageRef[] }> {
  const dir = join(t.dir, 'gan-new');
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < 20; i++) {
    files.push(join(dir, `good-${i}.png`));
    await writePart(files.at(-1)!, 3000 + i);
  }
  const defects: string[] = [];
  for (let i = 0; i < 6; i++) {
    defects.push(join(dir, `bad-${i}.png`));
    await writePart(defects.at(-1)!, 9100 + i, true);
  }
  return { added: refs(files.slice(0, 16)), heldOut: refs(files.slice(16)), defects: refs(defects) };
}

async function ganOptions(out: string): Promise<UpdateModelOptions> {
  const meta = await readModelMeta(gan);
  const split = splitGoodImages(await trainingImages(meta.training!.dataDir!), 0.4);
  const n = await ganImages();
  return {
    parentDir: gan,
    out,
    name: 'gan-u1',
    parentThreshold: meta.calibration!.threshold,
    ...n,
    passed: [],
    old: {
      train: refs(split.train),
      validation: refs(split.validation),
      calibration: refs(split.calibration),
    },
    epochs: 2,
    lineage,
    backend,
  };
}

describe('fine-tuning a GAN method', () => {
  it('trains on old + new good images for a few epochs, recalibrates, and writes a new folder', async () => {
    const before = hashFolder(gan);
    const parent = await readModelMeta(gan);
    const out = join(t.dir, 'gan-u1');
    const progress: TrainProgress[] = [];
    const r = await updateModel({ ...(await ganOptions(out)), onTrainProgress: (p) => progress.push(p) });
    expect(r.method).toBe('fine-tune');
    expect(r.bank).toBeNull();
    expect(r.epochs).toBe(2);
    expect(progress.filter((p) => p.kind === 'epoch').map((p) => p.epoch)).toEqual([1, 2]);
    // Old training images plus the 16 new ones.
    expect(r.meta.training!.images).toBe(parent.training!.images + 16);
    expect(r.meta.training!.epochs).toBe(parent.training!.epochs + 2);
    expect(r.meta.training!.dataHash).not.toBe(parent.training!.dataHash);
    expect(r.meta.name).toBe('gan-u1');
    // Recalibrated on the parent's calibration images plus the 4 held out.
    expect(r.comparison.heldOutGood).toBe(r.meta.training!.calibrationImages);
    expect(r.comparison.heldOutGood).toBe(parent.training!.calibrationImages + 4);
    expect(r.meta.calibration!.goodStats.n).toBe(r.comparison.heldOutGood);
    expect(r.comparison).toMatchObject({
      falseAlarms: 20,
      heldOutFalseAlarms: 4,
      defects: 6,
      passedParts: 0,
    });
    // The fine-tuned networks are not the parent's, and the parent's folder is exactly as it was.
    const weights = (dir: string) => readFileSync(join(dir, 'networks', 'encoder_g', 'weights.bin'));
    expect(weights(out).equals(weights(gan))).toBe(false);
    expect(hashFolder(gan)).toBe(before);
    expect(readFileSync(join(out, 'lineage.json'), 'utf8')).toBe('{"format":"anomaly-station-lineage"}');
    expect(existsSync(join(out, 'model.onnx'))).toBe(true);
    expect((await readModelMeta(out)).calibration!.threshold).toBe(r.meta.calibration!.threshold);
  }, 240_000);

  it('stops on cancel and leaves no folder', async () => {
    const out = join(t.dir, 'gan-cancelled');
    const abort = new AbortController();
    const o = await ganOptions(out);
    await expect(
      updateModel({ ...o, signal: abort.signal, onTrainProgress: () => abort.abort() }),
    ).rejects.toThrow(/cancelled/);
    expect(existsSync(out)).toBe(false);
  }, 240_000);

  it('refuses an existing folder, and a GAN whose old images are gone', async () => {
    const o = await ganOptions(join(t.dir, 'gan-u1'));
    await expect(updateModel(o)).rejects.toThrow(/already exists: a child model is always a new folder/);
    await expect(
      updateModel({
        ...o,
        out: join(t.dir, 'gan-x'),
        old: null,
        oldUnavailable: 'its training folder is gone',
      }),
    ).rejects.toThrow(
      /fine-tuning on its old good images plus the new ones, but the old ones cannot be read: its training folder is gone/,
    );
    await expect(updateModel({ ...o, out: join(t.dir, 'gan-y'), added: [] })).rejects.toThrow(
      /no false alarms to add/,
    );
  });
});

describe('a memory bank whose training folder is gone', () => {
  it("is calibrated on the parent's kept scores (upper bounds) plus the held-out false alarms, and says so", async () => {
    const dir = join(t.dir, 'pc-new');
    mkdirSync(dir, { recursive: true });
    const files: string[] = [];
    for (let i = 0; i < 12; i++) {
      files.push(join(dir, `lot2-${i}.png`));
      await writeTextured(files.at(-1)!, { seed: 6000 + i, pitch: 6 });
    }
    const parent = await readModelMeta(patchcore);
    rmSync(parent.training!.dataDir!, { recursive: true });
    const warnings: string[] = [];
    const r = await updateModel({
      parentDir: patchcore,
      out: join(t.dir, 'pc-u1'),
      name: 'pc-u1',
      parentThreshold: parent.calibration!.threshold,
      added: refs(files.slice(0, 9)),
      heldOut: refs(files.slice(9)),
      old: null,
      oldUnavailable: 'its training folder is gone',
      defects: [],
      passed: [],
      lineage,
      backend,
      onWarning: (w) => warnings.push(w),
    });
    expect(r.method).toBe('bank-extend');
    expect(r.bank!.rowsAdded).toBeGreaterThan(0);
    expect(r.comparison.heldOutGoodFromParentScores).toBe(parent.training!.calibrationImages);
    expect(r.comparison.heldOutGood).toBe(parent.training!.calibrationImages + 3);
    expect(warnings.join('\n')).toMatch(
      /cannot be read \(its training folder is gone\): the child is calibrated on the parent's \d+ kept held-out scores/,
    );
    expect(r.warnings).toEqual(warnings);
    // Reference images: the parent's, under the same numbers, plus the new parts the bank holds rows of.
    const refsOf = (d: string) => readdirSync(join(d, 'references'));
    expect(refsOf(join(t.dir, 'pc-u1'))).toEqual(expect.arrayContaining(refsOf(patchcore)));
    const config = r.meta.config as { trainImages: number; bankSources: number[] };
    expect(config.trainImages).toBe(parent.training!.images + 9);
    for (const s of new Set(config.bankSources.filter((x) => x >= parent.training!.images)))
      expect(existsSync(join(t.dir, 'pc-u1', 'references', `${s}.jpg`))).toBe(true);
  }, 120_000);
});
