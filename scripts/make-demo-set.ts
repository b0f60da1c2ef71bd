// Builds resources/demo/deeppcb, the small demo set shipped with the station, from a DeepPCB copy in the
// MVTec layout (MIT, Copyright (c) 2018 tangsanli5201; see resources/demo/deeppcb/LICENSE). Deterministic:
// the first files by name; images shrunk to 256 px so the repo stays small.
//   npm exec -- tsx scripts/make-demo-set.ts ../shared/data/deeppcb resources/demo/deeppcb
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';

const [src, dst] = process.argv.slice(2);
if (!src || !dst) throw new Error('usage: make-demo-set.ts SRC_MVTEC_DIR DST_DIR');
const take = async (from: string, to: string, n: number, masks?: [string, string]) => {
  mkdirSync(join(dst, to), { recursive: true });
  if (masks) mkdirSync(join(dst, masks[1]), { recursive: true });
  const files = readdirSync(join(src, from))
    .filter((f) => f.endsWith('.png'))
    .sort()
    .slice(0, n);
  for (const f of files) {
    await sharp(join(src, from, f))
      .resize(256, 256, { kernel: 'lanczos3' })
      .png({ compressionLevel: 9 })
      .toFile(join(dst, to, f));
    if (masks) {
      const m = `${basename(f, '.png')}_mask.png`;
      await sharp(join(src, masks[0], m))
        .resize(256, 256, { kernel: 'nearest' })
        .png({ compressionLevel: 9 })
        .toFile(join(dst, masks[1], m));
    }
  }
};
await take('train/good', 'train/good', 120);
await take('test/good', 'test/good', 20);
await take('test/defect', 'test/defect', 20, ['ground_truth/defect', 'ground_truth/defect']);
copyFileSync(join(src, 'SOURCE.txt'), join(dst, 'SOURCE.txt'));
