// The one image decoder of the station (sharp): magic-byte sniffing, a pixel-count limit checked before
// decoding, EXIF orientation, any bit depth / colour space to 8-bit gray or RGB, and resizing for the model.
// Every failure is an ImageError with a reason a person can act on; callers list it and go on.
import { open } from 'node:fs/promises';
import sharp from 'sharp';
import { workingDimensions } from '../../ml/score';
import type { ImageSample } from '../../ml/data';

export class ImageError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(reason);
    this.name = 'ImageError';
  }
}

/** Refuse images above this many pixels before decoding them (decompression bombs). 100 MP. */
export const MAX_PIXELS = 100_000_000;

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp'];

export function hasImageExtension(file: string): boolean {
  const lower = file.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** What the first bytes say the file is, or undefined if it is no image format we read. */
export function sniffFormat(head: Uint8Array): 'png' | 'jpeg' | 'bmp' | 'tiff' | 'webp' | undefined {
  const b = head;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  if (
    b.length >= 4 &&
    ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a) || (b[0] === 0x4d && b[1] === 0x4d && b[3] === 0x2a))
  )
    return 'tiff';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[8] === 0x57 && b[9] === 0x45) return 'webp';
  return undefined;
}

async function readHead(file: string): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(16);
    const { bytesRead } = await fh.read(buf, 0, 16, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export interface LoadOptions {
  channels: 1 | 3;
  /** Resize to size x size (the whole-image mode). */
  size?: number;
  /** Patch mode: shrink so the longer side is at most this (0/undefined: native resolution). */
  maxSide?: number;
  /**
   * Native mode (feature methods): judge at `scale` x the camera's resolution, so every image keeps the same
   * texture scale whatever its size; then enlarged until the shorter side is at least `minSide`, and shrunk
   * until the longer side is at most `maxSide` (see workingDimensions).
   */
  scale?: number;
  minSide?: number;
}

function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/ENOENT/.test(msg)) return 'file not found (deleted before it could be read?)';
  if (/EACCES|EPERM/.test(msg)) return 'permission denied';
  if (/pixel limit/i.test(msg))
    return `image too large (over ${MAX_PIXELS / 1e6} megapixels): refused before decoding`;
  return `cannot decode image: ${msg.split('\n')[0]}`;
}

/** Decode an image file into an ImageSample with the model's channels (gray <-> RGB converted). */
export async function loadImage(file: string, opts: LoadOptions): Promise<ImageSample> {
  let head: Uint8Array;
  try {
    head = await readHead(file);
  } catch (e) {
    throw new ImageError(file, reason(e));
  }
  return decode(file, head, file, opts);
}

/** Decode bytes already in memory (the station reads a file once to hash and decode it). */
export async function decodeImage(bytes: Uint8Array, file: string, opts: LoadOptions): Promise<ImageSample> {
  return decode(
    file,
    bytes.subarray(0, 16),
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    opts,
  );
}

async function decode(
  file: string,
  head: Uint8Array,
  input: string | Buffer,
  opts: LoadOptions,
): Promise<ImageSample> {
  if (head.length === 0) throw new ImageError(file, 'empty file (0 bytes)');
  if (!sniffFormat(head))
    throw new ImageError(file, 'not an image: its first bytes match no PNG, JPEG, BMP, TIFF or WebP header');
  try {
    // failOn 'error' rejects truncated files instead of returning half-grey images.
    let img = sharp(input, { limitInputPixels: MAX_PIXELS, failOn: 'error' }).rotate();
    const meta = await img.metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions');
    if (opts.size) {
      img = img.resize(opts.size, opts.size, { fit: 'fill', kernel: 'lanczos3' });
    } else if (opts.scale !== undefined) {
      const [w, h] = workingDimensions(meta.width, meta.height, {
        scale: opts.scale,
        minSide: opts.minSide ?? 0,
        maxSide: opts.maxSide ?? 0,
      });
      if (w !== meta.width || h !== meta.height) img = img.resize(w, h, { fit: 'fill', kernel: 'lanczos3' });
    } else if (opts.maxSide && Math.max(meta.width, meta.height) > opts.maxSide) {
      img = img.resize(opts.maxSide, opts.maxSide, { fit: 'inside', kernel: 'lanczos3' });
    }
    img = img.removeAlpha();
    img = opts.channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== opts.channels) {
      throw new Error(`decoder produced ${info.channels} channels, expected ${opts.channels}`);
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels: opts.channels,
    };
  } catch (e) {
    throw new ImageError(file, reason(e));
  }
}

/** zlib level for the PNGs the station writes per image: 2 costs ~a third of the default 6's time for files
 * ~10% larger (measured by bench:station), and the station writes five PNGs for every camera image. */
const PNG_COMPRESSION = 2;

/** Encode 8-bit HWC pixels (1, 3 or 4 channels) as PNG. */
/** A small PNG preview (longest side `side`) of 8-bit HWC pixels. */
export async function thumbnailPng(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  side = 128,
): Promise<Buffer> {
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
    raw: { width, height, channels },
  })
    .resize(side, side, { fit: 'inside', withoutEnlargement: true })
    .png({ compressionLevel: PNG_COMPRESSION })
    .toBuffer();
}

export async function encodePng(
  data: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
): Promise<Buffer> {
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
    raw: { width, height, channels },
  })
    .png({ compressionLevel: PNG_COMPRESSION })
    .toBuffer();
}

/** [0,1] floats (HWC) -> 8-bit. */
export function unitToBytes(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, a[i])) * 255);
  return out;
}

/** Load a 0/255 mask as one byte per pixel, resized (nearest) to width x height. */
export async function loadMask(file: string, width: number, height: number): Promise<Uint8Array> {
  const { data } = await sharp(file)
    .removeAlpha()
    .toColourspace('b-w')
    .resize(width, height, { fit: 'fill', kernel: 'nearest' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

export interface LoadedImages {
  files: string[];
  samples: ImageSample[];
  /** Files that could not be used, with the reason; the rest went on. */
  errors: { file: string; reason: string }[];
}

/** Load many files with a few decodes in flight; corrupt ones are listed, never fatal. */
export async function loadImages(
  files: string[],
  opts: LoadOptions,
  onProgress?: (done: number) => void,
): Promise<LoadedImages> {
  const results: (ImageSample | ImageError)[] = new Array(files.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      try {
        results[i] = await loadImage(files[i], opts);
      } catch (e) {
        results[i] = e instanceof ImageError ? e : new ImageError(files[i], String(e));
      }
      onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const out: LoadedImages = { files: [], samples: [], errors: [] };
  results.forEach((r, i) => {
    if (r instanceof ImageError) out.errors.push({ file: files[i], reason: r.message });
    else {
      out.files.push(files[i]);
      out.samples.push(r);
    }
  });
  return out;
}
