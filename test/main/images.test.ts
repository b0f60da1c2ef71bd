// The image decoder against the inputs a line camera folder really produces, good and bad, as real files.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageError, loadImage, loadImages, sniffFormat } from '../../src/main/io/images';
import { workingDimensions } from '../../src/ml/score';
import { tempDir } from '../helpers/fixtures';

const t = tempDir();
afterAll(() => t.cleanup());
const f = (name: string) => join(t.dir, name);

async function rgbPng(name: string, w = 40, h = 30): Promise<string> {
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = 200;
    data[i + 1] = 100;
    data[i + 2] = 50;
  }
  await sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(f(name));
  return f(name);
}

describe('loadImage', () => {
  it('judges at a share of the camera resolution, enlarging tiny images and capping huge ones (native mode)', async () => {
    const at = async (
      name: string,
      w: number,
      h: number,
      o: { scale: number; minSide?: number; maxSide?: number },
    ) => {
      const s = await loadImage(await rgbPng(name, w, h), { channels: 1, ...o });
      return [s.width, s.height];
    };
    // Half the resolution, aspect kept, for every size alike.
    expect(await at('n1.png', 300, 200, { scale: 0.5 })).toEqual([150, 100]);
    expect(await at('n2.png', 120, 90, { scale: 0.5 })).toEqual([60, 45]);
    // A tiny image is enlarged until its shorter side is minSide...
    expect(await at('n3.png', 28, 28, { scale: 0.5, minSide: 64 })).toEqual([64, 64]);
    // ...a huge one shrunk until its longer side is maxSide.
    expect(await at('n4.png', 800, 400, { scale: 1, maxSide: 200 })).toEqual([200, 100]);
    expect(workingDimensions(300, 200, { scale: 0.5, minSide: 0, maxSide: 0 })).toEqual([150, 100]);
  });

  it('decodes, converts RGB to gray and resizes for the model', async () => {
    const s = await loadImage(await rgbPng('rgb.png'), { channels: 1, size: 32 });
    expect([s.width, s.height, s.channels, s.data.length]).toEqual([32, 32, 1, 32 * 32]);
    // Rec.601/709 luma of (200,100,50) is about 120.
    expect(s.data[0]).toBeGreaterThan(100);
    expect(s.data[0]).toBeLessThan(140);
  });

  it('converts gray to RGB when the model wants 3 channels', async () => {
    await sharp(Buffer.alloc(16 * 16, 90), { raw: { width: 16, height: 16, channels: 1 } })
      .png()
      .toFile(f('gray.png'));
    const s = await loadImage(f('gray.png'), { channels: 3, size: 32 });
    expect(s.channels).toBe(3);
    expect([s.data[0], s.data[1], s.data[2]]).toEqual([90, 90, 90]);
  });

  it('reads 16-bit PNG as 8-bit', async () => {
    const px = new Uint16Array(8 * 8).fill(65535);
    await sharp(Buffer.from(px.buffer), { raw: { width: 8, height: 8, channels: 1, premultiplied: false } })
      .toColourspace('grey16')
      .png()
      .toFile(f('deep.png'));
    const s = await loadImage(f('deep.png'), { channels: 1 });
    expect(s.data[0]).toBe(255);
  });

  it('reads CMYK JPEG and honours EXIF orientation', async () => {
    await sharp(await rgbPng('c.png'))
      .toColourspace('cmyk')
      .jpeg()
      .toFile(f('cmyk.jpg'));
    const c = await loadImage(f('cmyk.jpg'), { channels: 3 });
    expect(c.channels).toBe(3);
    // 40x30 stored, orientation 6 = rotate 90 degrees: the decoder must hand out 30x40.
    await sharp(await rgbPng('o.png', 40, 30))
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(f('exif.jpg'));
    const o = await loadImage(f('exif.jpg'), { channels: 1 });
    expect([o.width, o.height]).toEqual([30, 40]);
  });

  it.each([
    ['empty.png', Buffer.alloc(0), /empty file/],
    ['text.png', Buffer.from('this is not an image\n'), /not an image/],
  ])('refuses %s with a clear reason', async (name, bytes, why) => {
    writeFileSync(f(name), bytes);
    await expect(loadImage(f(name), { channels: 1 })).rejects.toThrow(why);
  });

  it('refuses truncated PNG and JPEG', async () => {
    const png = await sharp(await rgbPng('full.png', 64, 64))
      .png()
      .toBuffer();
    writeFileSync(f('trunc.png'), png.subarray(0, Math.floor(png.length / 2)));
    await expect(loadImage(f('trunc.png'), { channels: 1 })).rejects.toBeInstanceOf(ImageError);
    const jpg = await sharp(await rgbPng('full2.png', 64, 64))
      .jpeg()
      .toBuffer();
    writeFileSync(f('trunc.jpg'), jpg.subarray(0, Math.floor(jpg.length / 2)));
    await expect(loadImage(f('trunc.jpg'), { channels: 1 })).rejects.toThrow(/cannot decode/);
  });

  it('refuses a decompression bomb before decoding it', async () => {
    // A valid PNG header claiming 60000 x 60000 pixels (3.6 GP) with a tiny body.
    const head = await sharp(Buffer.alloc(4), { raw: { width: 2, height: 2, channels: 1 } })
      .png()
      .toBuffer();
    const bomb = Buffer.from(head);
    bomb.writeUInt32BE(60000, 16);
    bomb.writeUInt32BE(60000, 20);
    writeFileSync(f('bomb.png'), bomb);
    await expect(loadImage(f('bomb.png'), { channels: 1, size: 32 })).rejects.toThrow(
      /too large|cannot decode/,
    );
  });

  it('reports missing and unreadable files', async () => {
    await expect(loadImage(f('gone.png'), { channels: 1 })).rejects.toThrow(/not found/);
    if (process.getuid?.() !== 0) {
      const p = await rgbPng('locked.png');
      chmodSync(p, 0);
      await expect(loadImage(p, { channels: 1 })).rejects.toThrow(/permission denied/);
    }
  });

  it('handles unicode and spaces in names', async () => {
    const p = await rgbPng('teil nr. 7 – prüfung.png');
    expect((await loadImage(p, { channels: 1, size: 32 })).width).toBe(32);
  });
});

describe('loadImages', () => {
  it('lists the bad files with reasons and keeps the good ones', async () => {
    writeFileSync(f('bad.png'), 'nope');
    const ok = await rgbPng('ok.png');
    const r = await loadImages([ok, f('bad.png'), f('missing.png')], { channels: 1, size: 32 });
    expect(r.samples.length).toBe(1);
    expect(r.files).toEqual([ok]);
    expect(r.errors.map((e) => e.file)).toEqual([f('bad.png'), f('missing.png')]);
  });
});

describe('sniffFormat', () => {
  it('recognises the formats by magic bytes', () => {
    expect(sniffFormat(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe('png');
    expect(sniffFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffFormat(new Uint8Array([0x47, 0x49, 0x46]))).toBeUndefined();
  });
});
