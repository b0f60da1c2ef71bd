// On-disk fixtures made by the tests themselves: MVTec-layout folders of synthetic parts, and temp dirs.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { syntheticPart } from './synthetic';

export function tempDir(prefix = 'station-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function writeGray(file: string, data: Uint8Array, w: number, h: number): Promise<void> {
  await writeFile(
    file,
    await sharp(Buffer.from(data), { raw: { width: w, height: h, channels: 1 } })
      .png()
      .toBuffer(),
  );
}

/** An MVTec-layout set of synthetic 48px parts: train/good, test/good, test/blob + masks. */
export async function writeMvtecSet(
  root: string,
  o: { train: number; testGood: number; testBad: number; size?: number },
): Promise<void> {
  const size = o.size ?? 48;
  const dirs = ['train/good', 'test/good', 'test/blob', 'ground_truth/blob'].map((d) => join(root, d));
  dirs.forEach((d) => mkdirSync(d, { recursive: true }));
  for (let i = 0; i < o.train; i++) {
    await writeGray(
      join(dirs[0], `${String(i).padStart(3, '0')}.png`),
      syntheticPart({ size, channels: 1, seed: 1000 + i }).sample.data,
      size,
      size,
    );
  }
  for (let i = 0; i < o.testGood; i++) {
    await writeGray(
      join(dirs[1], `${String(i).padStart(3, '0')}.png`),
      syntheticPart({ size, channels: 1, seed: 5000 + i }).sample.data,
      size,
      size,
    );
  }
  for (let i = 0; i < o.testBad; i++) {
    const p = syntheticPart({ size, channels: 1, seed: 9000 + i, defect: true });
    const stem = String(i).padStart(3, '0');
    await writeGray(join(dirs[2], `${stem}.png`), p.sample.data, size, size);
    await writeGray(join(dirs[3], `${stem}_mask.png`), p.mask, size, size);
  }
}
