// Kill -9 in the middle of a burst, restart: every file scored exactly once, the database intact, the audit
// chain verifies. The station runs as a real child process (`station watch`), killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/main/station/database';
import { tempDir } from '../../helpers/fixtures';
import { trainTinyModel, waitFor, writePart } from '../../helpers/station-fixtures';

const t = tempDir();
let modelDir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  modelDir = await trainTinyModel(t.dir);
}, 120_000);
afterAll(() => {
  children.forEach((c) => c.kill('SIGKILL'));
  t.cleanup();
});

function watch(cam: string, data: string): ChildProcess {
  const cli = resolve('src/main/cli/index.ts');
  const c = spawn(
    process.execPath,
    ['--import', 'tsx', cli, 'watch', cam, '--model', modelDir, '--data-dir', data, '--backend', 'wasm'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  c.stdout!.resume();
  c.stderr!.resume();
  children.push(c);
  return c;
}

function count(dbFile: string): number {
  try {
    const db = openDatabase(dbFile);
    try {
      return db.countInspections();
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

describe('crash safety', () => {
  it('loses no file and scores none twice across a kill -9 mid-burst', async () => {
    const cam = join(t.dir, 'cam');
    const data = join(t.dir, 'data');
    mkdirSync(cam);
    const N = 120;
    const first = watch(cam, data);
    const dbFile = join(data, 'station.db');
    // Burst: all files land at once (written in a staging folder, then moved in).
    const staging = join(t.dir, 'staging');
    mkdirSync(staging);
    for (let i = 0; i < N; i++)
      await writePart(join(staging, `p${String(i).padStart(3, '0')}.png`), 7000 + i, i % 10 === 0);
    await waitFor('the station to start', () => count(dbFile) >= 0 && first.exitCode === null, 20_000);
    await new Promise((r) => setTimeout(r, 3000)); // model loaded, watcher ready
    const { renameSync, readdirSync } = await import('node:fs');
    for (const f of readdirSync(staging)) renameSync(join(staging, f), join(cam, f));

    // Decisions while it runs (the operator works the queue), from a second connection.
    await waitFor('some rows', () => count(dbFile) >= 20, 60_000);
    const side = openDatabase(dbFile);
    const flagged = side.queryInspections({ verdict: 'flag' }, { limit: 5 }).rows;
    for (const r of flagged)
      side.appendDecision({ inspectionId: r.id, decision: 'defect', operator: 'crash test' });
    side.close();

    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const before = count(dbFile);
    expect(before).toBeLessThan(N); // it really died mid-burst

    const second = watch(cam, data);
    await waitFor(`all ${N} files scored after the restart`, () => count(dbFile) >= N, 120_000);
    await new Promise((r) => setTimeout(r, 1500)); // nothing more may arrive
    second.kill('SIGINT');
    await new Promise((r) => second.once('exit', r));

    const db = openDatabase(dbFile);
    try {
      expect(db.countInspections()).toBe(N);
      const rows = [...db.iterateInspections()];
      expect(new Set(rows.map((r) => r.filePath)).size).toBe(N);
      expect(rows.filter((r) => r.verdict === 'error')).toEqual([]);
      expect(db.integrityCheck()).toBe('ok');
      const chain = db.verifyAuditChain();
      expect(chain).toMatchObject({ ok: true, count: flagged.length });
    } finally {
      db.close();
    }
  }, 300_000);
});
