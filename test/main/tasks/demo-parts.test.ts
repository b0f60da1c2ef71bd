// The demo parts: deterministic, in the MVTec layout the station reads, every defect with a mask that covers
// it and only it, and good parts that differ from each other.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mvtecTestSet, trainingImages } from '../../../src/main/io/datasets';
import { loadImage, loadMask } from '../../../src/main/io/images';
import { DEMO_PART_DEFECTS, demoPart, writeDemoParts } from '../../../src/main/tasks/demo-parts';
import { tempDir } from '../../helpers/fixtures';

const t = tempDir('station-demo-parts-');
afterAll(() => t.cleanup());

describe('demo parts', () => {
  it('are the same for the same seed and differ between good parts', () => {
    const a = demoPart(5, 64, 48);
    expect(demoPart(5, 64, 48).pixels).toEqual(a.pixels);
    const b = demoPart(6, 64, 48);
    let differ = 0;
    for (let i = 0; i < a.pixels.length; i++) if (a.pixels[i] !== b.pixels[i]) differ++;
    expect(differ).toBeGreaterThan(a.pixels.length / 2);
    expect(a.mask.every((v) => v === 0)).toBe(true);
  });

  it.each(DEMO_PART_DEFECTS)(
    'mark a %s in its mask, where the pixels differ from the same part without it',
    (d) => {
      const clean = demoPart(77, 160, 120);
      const bad = demoPart(77, 160, 120, d);
      const masked = bad.mask.reduce((n, v) => n + (v ? 1 : 0), 0);
      expect(masked).toBeGreaterThan(10);
      expect(masked).toBeLessThan(160 * 120 * 0.05);
      let changedInside = 0;
      for (let i = 0; i < bad.mask.length; i++) {
        if (bad.mask[i] && Math.abs(bad.pixels[i] - clean.pixels[i]) > 10) changedInside++;
        // Outside the mask only the dent's soft rim may differ.
        if (!bad.mask[i] && d !== 'dent') expect(bad.pixels[i]).toBe(clean.pixels[i]);
      }
      expect(changedInside / masked).toBeGreaterThan(0.5);
    },
  );

  it('write an MVTec-layout set once, which the station reads with its masks', async () => {
    const dir = join(t.dir, 'parts');
    await writeDemoParts(dir, { width: 96, height: 72, trainGood: 12, testGood: 3, testDefect: 2 });
    expect(await trainingImages(dir)).toHaveLength(12);
    const tests = await mvtecTestSet(dir);
    expect(tests.filter((x) => x.label === 0)).toHaveLength(3);
    for (const d of DEMO_PART_DEFECTS) {
      const mine = tests.filter((x) => x.type === d);
      expect(mine).toHaveLength(2);
      const img = await loadImage(mine[0].file, { channels: 1 });
      expect([img.width, img.height]).toEqual([96, 72]);
      const mask = await loadMask(mine[0].mask!, 96, 72);
      expect(mask.some((v) => v > 0)).toBe(true);
    }
    // A second call finds the set and leaves it alone.
    const before = readdirSync(join(dir, 'train', 'good'));
    await writeDemoParts(dir, { width: 96, height: 72, trainGood: 99 });
    expect(readdirSync(join(dir, 'train', 'good'))).toEqual(before);
  });
});
