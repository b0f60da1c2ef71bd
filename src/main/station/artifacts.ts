// Images the station makes (overlays, heatmaps, reconstructions, thumbnails) stored content-addressed under
// DATA/images/ab/<sha256>.png: identical images are stored once, a rerun after a crash rewrites the same
// names, and nothing a client sends can name a path (clients get images by inspection id and kind).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const KEY = /^[0-9a-f]{64}$/;

export class ArtifactStore {
  constructor(readonly root: string) {}

  pathOf(key: string): string {
    if (!KEY.test(key)) throw new Error(`not an artifact key: ${key}`);
    return join(this.root, key.slice(0, 2), `${key}.png`);
  }

  /** Store PNG bytes; returns their key. Written to a temp name and renamed, so a crash leaves no half file. */
  async put(png: Uint8Array): Promise<string> {
    const key = createHash('sha256').update(png).digest('hex');
    await this.putAs(key, png);
    return key;
  }

  /** Store under a key derived from the image's inputs (rendered images cached by what they were made of). */
  async putAs(key: string, png: Uint8Array): Promise<void> {
    const file = this.pathOf(key);
    if (existsSync(file)) return;
    await mkdir(join(this.root, key.slice(0, 2)), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, png);
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  read(key: string): Promise<Buffer> {
    return readFile(this.pathOf(key));
  }
}
