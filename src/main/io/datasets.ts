// Finding images on disk: a plain folder of good images, or a data set in the MVTec AD layout
// (train/good, test/good, test/<defect>, ground_truth/<defect>/<stem>_mask.png) that the field uses.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { hasImageExtension } from './images';

export async function listImages(dir: string): Promise<string[]> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`not a folder: ${dir}`);
  const names = await readdir(dir);
  return names
    .filter((n) => hasImageExtension(n) && !n.startsWith('.'))
    .sort()
    .map((n) => join(dir, n));
}

export function isMvtec(dir: string): boolean {
  return existsSync(join(dir, 'train', 'good'));
}

/** The good images to train on: DIR/train/good for an MVTec-layout set, else DIR itself. */
export async function trainingImages(dir: string): Promise<string[]> {
  return listImages(isMvtec(dir) ? join(dir, 'train', 'good') : dir);
}

/**
 * Deterministic split by a hash of the file name (not the order on disk), so the same files are held out
 * every time and adding images does not reshuffle the old ones. A different `salt` gives an independent
 * split (used to halve the held-out set into validation and calibration).
 */
export function holdOut(files: string[], fraction: number, salt = ''): { train: string[]; held: string[] } {
  const train: string[] = [];
  const held: string[] = [];
  for (const f of files) {
    const h =
      createHash('sha256')
        .update(salt + basename(f))
        .digest()
        .readUInt32BE(0) / 0x100000000;
    (h < fraction ? held : train).push(f);
  }
  return { train, held };
}

/** The fraction of good images training holds out by default (half validation, half calibration). */
export const DEFAULT_HOLDOUT = 0.2;

/** How training splits good images: train, validation (model selection) and calibration (the threshold). */
export function splitGoodImages(
  files: string[],
  holdout = DEFAULT_HOLDOUT,
): { train: string[]; validation: string[]; calibration: string[] } {
  const split = holdOut(files, holdout);
  const held = holdOut(split.held, 0.5, 'calibration:');
  return { train: split.train, validation: held.train, calibration: held.held };
}

export interface TestImage {
  file: string;
  /** 'good' or the defect type (the folder name). */
  type: string;
  label: 0 | 1;
  mask?: string;
}

/** The labelled test split of an MVTec-layout set. */
export async function mvtecTestSet(dir: string): Promise<TestImage[]> {
  const testDir = join(dir, 'test');
  if (!existsSync(testDir))
    throw new Error(`${dir} has no test/ folder (expected the MVTec AD layout: test/good, test/<defect>)`);
  const types = (await readdir(testDir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const out: TestImage[] = [];
  for (const type of types) {
    for (const file of await listImages(join(testDir, type))) {
      const stem = basename(file, extname(file));
      const maskFile = join(dir, 'ground_truth', type, `${stem}_mask.png`);
      out.push({
        file,
        type,
        label: type === 'good' ? 0 : 1,
        mask: type !== 'good' && existsSync(maskFile) ? maskFile : undefined,
      });
    }
  }
  return out;
}

/** sha256 over the sorted files' names and contents: the training-data fingerprint stored with a model. */
export async function hashFiles(files: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of [...files].sort()) {
    h.update(basename(f));
    h.update(await readFile(f));
  }
  return h.digest('hex');
}
