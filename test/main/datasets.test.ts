// Data set discovery on real folders: plain folders and the MVTec layout, a stable hash split, and the
// training-data fingerprint.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFiles, holdOut, isMvtec, mvtecTestSet, trainingImages } from '../../src/main/io/datasets';
import { tempDir, writeMvtecSet } from '../helpers/fixtures';

const t = tempDir();
afterAll(() => t.cleanup());

describe('holdOut', () => {
  const files = Array.from({ length: 1000 }, (_, i) => `/x/img${i}.png`);
  it('holds out about the fraction asked, the same files every time, independent of order', () => {
    const a = holdOut(files, 0.2);
    expect(a.held.length).toBeGreaterThan(150);
    expect(a.held.length).toBeLessThan(250);
    const b = holdOut([...files].reverse(), 0.2);
    expect(new Set(b.held)).toEqual(new Set(a.held));
  });
  it('gives an independent split with another salt', () => {
    const a = holdOut(files, 0.2);
    const half = holdOut(a.held, 0.5, 'calibration:');
    expect(half.held.length).toBeGreaterThan(a.held.length * 0.3);
    expect(half.train.length).toBeGreaterThan(a.held.length * 0.3);
  });
});

describe('MVTec layout', () => {
  it('finds train/good, the labelled test split and the masks', async () => {
    const root = join(t.dir, 'set');
    await writeMvtecSet(root, { train: 3, testGood: 2, testBad: 2 });
    writeFileSync(join(root, 'train', 'good', 'notes.txt'), 'ignored');
    expect(isMvtec(root)).toBe(true);
    expect((await trainingImages(root)).length).toBe(3);
    const test = await mvtecTestSet(root);
    expect(test.map((x) => [x.type, x.label, Boolean(x.mask)])).toEqual([
      ['blob', 1, true],
      ['blob', 1, true],
      ['good', 0, false],
      ['good', 0, false],
    ]);
  });
  it('treats a plain folder as good images and fingerprints its content', async () => {
    const dir = join(t.dir, 'plain');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.png'), 'x');
    writeFileSync(join(dir, 'b.jpg'), 'y');
    const files = await trainingImages(dir);
    expect(files.length).toBe(2);
    const h1 = await hashFiles(files);
    writeFileSync(join(dir, 'b.jpg'), 'z');
    expect(await hashFiles(files)).not.toBe(h1);
  });
  it('says what is wrong with a missing folder', async () => {
    await expect(trainingImages(join(t.dir, 'nope'))).rejects.toThrow(/not a folder/);
    await expect(mvtecTestSet(join(t.dir, 'plain'))).rejects.toThrow(/no test\/ folder/);
  });
});
