// A full disk on the data dir: a clear error, nothing committed half-way, nothing lost. The data dir lives
// on a tiny tmpfs that the test fills up; the file is scored once space is back. Needs mount(8) rights
// (root in a container, as on CI); elsewhere the test is skipped and says why.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StationEvent } from '../../../src/common/api';
import { Station } from '../../../src/main/station/station';
import { tempDir } from '../../helpers/fixtures';
import { dropPart, trainTinyModel, waitFor } from '../../helpers/station-fixtures';

const t = tempDir();
const mnt = join(t.dir, 'small-disk');
let mounted = false;
let why = '';
try {
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { stdio: 'pipe' });
  mounted = true;
} catch (e) {
  why = `cannot mount a small tmpfs here (${(e as Error).message.split('\n')[0]}); run as root to test a full disk`;
}
let modelDir: string;

beforeAll(async () => {
  if (mounted) modelDir = await trainTinyModel(t.dir);
}, 120_000);
afterAll(() => {
  if (mounted) execFileSync('umount', [mnt]);
  t.cleanup();
});

describe.skipIf(!mounted)(`full disk on the data dir${mounted ? '' : ` (skipped: ${why})`}`, () => {
  it('says the data dir is full, commits nothing, and scores the file once space is back', async () => {
    const cam = join(t.dir, 'cam');
    mkdirSync(cam);
    const data = join(mnt, 'data');
    const station = await Station.open({ dataDir: data, backend: 'wasm', settleMs: 150, retryMs: 500 });
    const events: StationEvent[] = [];
    station.onEvent((e) => events.push(e));
    const model = await station.registerModel({ folder: modelDir });
    await station.addLine({ name: 'disk', folder: cam, modelId: model.id });
    await dropPart(cam, 'first.png', 5600);
    await waitFor('first inspection', () => events.some((e) => e.type === 'inspection'));
    // Fill the disk.
    const filler = join(mnt, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(8 * 2 ** 20));
    } catch {
      // ENOSPC: the filler took all that was left
    }
    await dropPart(cam, 'second.png', 5601, true);
    const err = await waitFor('a storage error', () =>
      events.find((e) => e.type === 'error' && /data dir/.test(e.message)),
    );
    expect(err.type === 'error' && err.message).toMatch(/cannot store results|unexpected failure/);
    expect(station.db.countInspections()).toBe(1);
    rmSync(filler);
    await waitFor('the retried file scored', () => station.db.countInspections() === 2, 30_000);
    expect(station.db.integrityCheck()).toBe('ok');
    const rows = station.db.queryInspections({}, { limit: 10 }).rows;
    expect(rows.map((r) => r.filePath.split('/').pop()).sort()).toEqual(['first.png', 'second.png']);
    await station.close();
  }, 90_000);
});
