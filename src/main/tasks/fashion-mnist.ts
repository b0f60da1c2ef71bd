// Fashion-MNIST (MIT; Debian's dataset-fashion-mnist) as an MVTec-layout one-class set: train/good = one
// class's training images; test/good = that class's test images; test/<other class> = the other nine
// classes' test images (the usual one-class protocol). Lets `station train` and `station eval` run on it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { encodePng } from '../io/images';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_CLASSES = [
  'tshirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'boot',
];

async function readIdx(file: string): Promise<{ dims: number[]; data: Uint8Array }> {
  let buf = await readFile(file);
  if (file.endsWith('.gz')) buf = gunzipSync(buf);
  const ndim = buf[3];
  const dims = Array.from({ length: ndim }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + 4 + 4 * ndim, buf.length - 4 - 4 * ndim) };
}

export interface FashionSplit {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export async function readFashionMnist(dir: string, split: 'train' | 't10k'): Promise<FashionSplit> {
  const img = join(dir, `${split}-images-idx3-ubyte.gz`);
  if (!existsSync(img))
    throw new Error(`Fashion-MNIST not found in ${dir} (apt-get install dataset-fashion-mnist)`);
  const images = await readIdx(img);
  const labels = await readIdx(join(dir, `${split}-labels-idx1-ubyte.gz`));
  return { images: images.data, labels: labels.data, count: images.dims[0] };
}

/** Write one class's one-class split as PNGs; returns the number of files written per folder. */
export async function exportFashionMnist(
  cls: number,
  out: string,
  opts: { dir?: string; maxTest?: number } = {},
): Promise<Record<string, number>> {
  if (!(cls >= 0 && cls <= 9)) throw new Error('--class must be 0..9');
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const counts: Record<string, number> = {};
  const write = async (folder: string, idx: number, split: FashionSplit) => {
    await mkdir(folder, { recursive: true });
    const png = await encodePng(split.images.subarray(idx * 784, (idx + 1) * 784), 28, 28, 1);
    await writeFile(join(folder, `${String(idx).padStart(5, '0')}.png`), png);
  };
  const train = await readFashionMnist(dir, 'train');
  for (let i = 0; i < train.count; i++) {
    if (train.labels[i] !== cls) continue;
    await write(join(out, 'train', 'good'), i, train);
    counts['train/good'] = (counts['train/good'] ?? 0) + 1;
  }
  const test = await readFashionMnist(dir, 't10k');
  for (let i = 0; i < test.count; i++) {
    const label = test.labels[i];
    const folder = label === cls ? 'good' : FASHION_CLASSES[label];
    if (opts.maxTest && (counts[`test/${folder}`] ?? 0) >= opts.maxTest) continue;
    await write(join(out, 'test', folder), i, test);
    counts[`test/${folder}`] = (counts[`test/${folder}`] ?? 0) + 1;
  }
  await writeFile(
    join(out, 'SOURCE.txt'),
    `Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; MIT licence), one-class split: good = class ${cls} (${FASHION_CLASSES[cls]}).\n`,
  );
  return counts;
}
