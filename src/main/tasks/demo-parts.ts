// The demo's parts: a synthetic, deterministic set of machined metal surfaces in the MVTec AD layout
// (train/good, test/good, test/<defect>, ground_truth/<defect>/<name>_mask.png), made on the first start
// instead of shipped as image files. Brushed streaks, fine machining marks of random phase and pitch jitter,
// an illumination gradient and sensor noise make every good part different; the defects are what a line
// camera on such parts shows: scratches (thin dark lines), spots (small dark or bright pits) and dents (a
// soft light-dark shading, a few times larger). Every defect has its pixel mask.
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../ml/data';

export const DEMO_PART_DEFECTS = ['scratch', 'spot', 'dent'] as const;
export type DemoDefect = (typeof DEMO_PART_DEFECTS)[number];

export interface DemoPartsOptions {
  width?: number;
  height?: number;
  trainGood?: number;
  testGood?: number;
  /** Defective test parts per defect type. */
  testDefect?: number;
  seed?: number;
}

/** One part: 8-bit grey pixels and, for a defect, its mask (255 on the defect). */
export function demoPart(
  seed: number,
  width: number,
  height: number,
  defect?: DemoDefect,
): { pixels: Uint8Array; mask: Uint8Array } {
  const rng = new Rng(seed);
  const pixels = new Uint8Array(width * height);
  const mask = new Uint8Array(width * height);
  // Brushed streaks: a slowly varying brightness per row, smoothed random walk.
  const streak = new Float32Array(height);
  let walk = 0;
  for (let y = 0; y < height; y++) {
    walk = 0.9 * walk + (rng.next() - 0.5) * 6;
    streak[y] = walk;
  }
  const phase = rng.next() * Math.PI * 2;
  const pitch = 5 + rng.next() * 0.6;
  const tiltX = (rng.next() - 0.5) * 30;
  const tiltY = (rng.next() - 0.5) * 30;
  const base = 115 + (rng.next() - 0.5) * 20;
  // The defect's geometry.
  const cx = width * (0.15 + rng.next() * 0.7);
  const cy = height * (0.15 + rng.next() * 0.7);
  const angle = rng.next() * Math.PI;
  const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
  const length = Math.min(width, height) * (0.2 + rng.next() * 0.25);
  const spotR = 5 + rng.next() * 3;
  const spotSign = rng.next() < 0.5 ? -1 : 1;
  const dentR = 14 + rng.next() * 10;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v =
        base +
        streak[y] +
        9 * Math.sin((2 * Math.PI * x) / pitch + phase + 0.3 * Math.sin(y / 23)) +
        (tiltX * x) / width +
        (tiltY * y) / height +
        (rng.next() - 0.5) * 14;
      const i = y * width + x;
      if (defect === 'scratch') {
        const t = (x - cx) * dx + (y - cy) * dy;
        const off = Math.abs(-(x - cx) * dy + (y - cy) * dx);
        if (Math.abs(t) < length / 2 && off < 1.6) {
          v = 40 + ((x * 7 + y * 13) % 11); // no extra random draw: the rest of the part stays as it was
          mask[i] = 255;
        }
      } else if (defect === 'spot') {
        if (Math.hypot(x - cx, y - cy) < spotR) {
          v = spotSign < 0 ? 30 : 230;
          mask[i] = 255;
        }
      } else if (defect === 'dent') {
        const r = Math.hypot(x - cx, y - cy);
        if (r < dentR) {
          // A dent catches the light on one side and is in shadow on the other.
          const side = ((x - cx) * 0.7 + (y - cy) * 0.7) / dentR;
          v += 70 * side * Math.cos((Math.PI * r) / (2 * dentR));
          if (r < dentR * 0.8) mask[i] = 255;
        }
      }
      pixels[i] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { pixels, mask };
}

const png = (data: Uint8Array, width: number, height: number) =>
  sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();

/**
 * Write the set into `dir` (made in a temporary folder and renamed, so a half-written set never counts);
 * nothing is done when `dir` already holds one. Returns `dir`.
 */
export async function writeDemoParts(dir: string, o: DemoPartsOptions = {}): Promise<string> {
  if (existsSync(join(dir, 'SOURCE.txt'))) return dir;
  const { width = 320, height = 240, trainGood = 200, testGood = 20, testDefect = 8, seed = 2026 } = o;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const put = async (rel: string, data: Uint8Array) => {
    await mkdir(join(tmp, rel, '..'), { recursive: true });
    await writeFile(join(tmp, rel), await png(data, width, height));
  };
  const name = (i: number) => `${String(i).padStart(3, '0')}.png`;
  for (let i = 0; i < trainGood; i++)
    await put(`train/good/${name(i)}`, demoPart(seed + i, width, height).pixels);
  for (let i = 0; i < testGood; i++)
    await put(`test/good/${name(i)}`, demoPart(seed + 10_000 + i, width, height).pixels);
  for (const [k, defect] of DEMO_PART_DEFECTS.entries())
    for (let i = 0; i < testDefect; i++) {
      const p = demoPart(seed + 20_000 + k * 1000 + i, width, height, defect);
      await put(`test/${defect}/${name(i)}`, p.pixels);
      await put(`ground_truth/${defect}/${String(i).padStart(3, '0')}_mask.png`, p.mask);
    }
  await writeFile(
    join(tmp, 'SOURCE.txt'),
    `Synthetic machined-metal parts made by Anomaly Station (src/main/tasks/demo-parts.ts, seed ${seed}): ` +
      `${trainGood} good training parts, ${testGood} good and ${testDefect} per defect type (${DEMO_PART_DEFECTS.join(', ')}) test parts, ` +
      `${width}x${height} grey, with pixel masks. No third-party data.\n`,
  );
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, '..'), { recursive: true });
  await rename(tmp, dir);
  return dir;
}
