// The station core end to end on real folders, real chokidar, a real SQLite file and a real (tiny) model:
// every new image scored once and logged, images served by id, catch-up after a restart, a changed file
// rescored, lines paused and removed, decisions appended and chained, bad input turned into error rows.
import { mkdirSync, symlinkSync, writeFileSync, renameSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Inspection, StationApi, StationEvent } from '../../../src/common/api';
import { validated } from '../../../src/main/station/in-process';
import type { ScorerPool } from '../../../src/main/station/scorer-pool';
import { Station } from '../../../src/main/station/station';
import { tempDir } from '../../helpers/fixtures';
import { dropPart, trainTinyModel, waitFor } from '../../helpers/station-fixtures';

const t = tempDir();
let modelDir: string;

beforeAll(async () => {
  modelDir = await trainTinyModel(t.dir);
}, 120_000);
afterAll(() => t.cleanup());

/** A station on its own data dir, with an event log. */
async function openStation(name: string, extra: Partial<Parameters<typeof Station.open>[0]> = {}) {
  const station = await Station.open({
    dataDir: join(t.dir, name),
    backend: 'wasm',
    settleMs: 150,
    ...extra,
  });
  const api: StationApi = validated(station);
  const events: StationEvent[] = [];
  station.onEvent((e) => events.push(e));
  const inspections = () =>
    events.filter((e) => e.type === 'inspection').map((e) => e.inspection as Inspection);
  return { station, api, events, inspections };
}

describe('station core', () => {
  it('scores each new camera image once, logs it, and serves its images by id', async () => {
    const cam = join(t.dir, 'cam1');
    mkdirSync(cam);
    const { station, api, inspections } = await openStation('data1');
    const model = await api.registerModel({ folder: modelDir });
    const line = await api.addLine({ name: 'Line 1', folder: cam, modelId: model.id });
    expect(line.status).toBe('starting');
    for (let i = 0; i < 4; i++) await dropPart(cam, `good-${i}.png`, 5000 + i);
    for (let i = 0; i < 4; i++) await dropPart(cam, `bad-${i}.png`, 9000 + i, true);
    writeFileSync(join(cam, 'notes.txt'), 'not an image: ignored by extension');
    await waitFor('8 inspections', () => inspections().length >= 8 && true);
    await station.idle();

    const rows = (await api.queryInspections({ limit: 100 })).rows;
    expect(rows).toHaveLength(8);
    expect(new Set(rows.map((r) => r.filePath)).size).toBe(8);
    for (const r of rows) {
      expect(r.verdict).not.toBe('error');
      expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.threshold).toBeGreaterThan(0);
      expect(r.normalizedScore).toBeGreaterThanOrEqual(0);
      expect(r.engine).toBeTruthy();
    }
    // The model separates the blobs from good parts: every defect scores above every good part here.
    const score = (p: string) => rows.filter((r) => r.filePath.includes(p)).map((r) => r.rawScore!);
    expect(Math.min(...score('bad-'))).toBeGreaterThan(Math.max(...score('good-')));
    expect(rows.filter((r) => r.filePath.includes('bad-')).every((r) => r.verdict === 'flag')).toBe(true);

    // Images come by inspection id and kind: PNGs from the content-addressed store.
    const img = await api.getImage({ inspectionId: rows[0].id, kind: 'overlay' });
    expect(Buffer.from(img.data.subarray(0, 8)).toString('hex')).toBe('89504e470d0a1a0a');
    await expect(api.getImage({ inspectionId: 999999, kind: 'overlay' })).rejects.toThrow(/not found/);
    await expect(
      api.getImage({ inspectionId: rows[0].id, kind: '../../etc/passwd' as 'overlay' }),
    ).rejects.toThrow(/kind/);

    // The camera's files are untouched.
    expect(readFileSync(join(cam, 'notes.txt'), 'utf8')).toMatch(/^not an image/);
    const lines = await api.listLines({});
    expect(lines[0]).toMatchObject({ status: 'watching', counts: { pass: 4, flag: 4, error: 0 } });
    await station.close();

    // Restart: nothing is scored twice; a file that arrived while down is scored once (catch-up);
    // a file rewritten with new content (new size/mtime) is scored again.
    await dropPart(cam, 'while-down.png', 5100);
    const again = await openStation('data1');
    await waitFor('catch-up', () => again.inspections().length >= 1 && true);
    await dropPart(cam, 'good-0.png', 9100, true);
    await waitFor('rescore of the changed file', () => again.inspections().length >= 2 && true);
    await new Promise((r) => setTimeout(r, 800)); // anything else would have arrived by now
    await again.station.idle();
    const files = again.inspections().map((i) => i.filePath.split('/').pop());
    expect(files.sort()).toEqual(['good-0.png', 'while-down.png']);
    expect((await again.api.queryInspections({ limit: 100 })).total).toBe(10);
    expect(again.station.db.integrityCheck()).toBe('ok');
    await again.station.close();
  }, 90_000);

  it('appends decisions by the signed-in operator, chained; corrections point at what they correct', async () => {
    const cam = join(t.dir, 'cam2');
    mkdirSync(cam);
    const { station, api, inspections } = await openStation('data2');
    const model = await api.registerModel({ folder: modelDir });
    await api.addLine({ name: 'L2', folder: cam, modelId: model.id });
    for (let i = 0; i < 3; i++) await dropPart(cam, `bad-${i}.png`, 9200 + i, true);
    await waitFor('3 inspections', () => inspections().length >= 3 && true);
    const queue = await api.reviewQueue({ limit: 10 });
    expect(queue).toHaveLength(3);
    await expect(api.decide({ inspectionId: queue[0].id, decision: 'defect' })).rejects.toThrow(/sign in/);
    await api.signIn({ name: 'Ana Operator', badge: 'B-17' });
    const d1 = await api.decide({ inspectionId: queue[0].id, decision: 'defect', comment: 'scratch' });
    await api.decide({ inspectionId: queue[1].id, decision: 'false_alarm' });
    // Undo = a new row that corrects the first one.
    const d3 = await api.decide({
      inspectionId: queue[0].id,
      decision: 'false_alarm',
      correctsDecisionId: d1.id,
    });
    expect(d3.correctsDecisionId).toBe(d1.id);
    await expect(
      api.decide({ inspectionId: queue[2].id, decision: 'defect', correctsDecisionId: d1.id }),
    ).rejects.toThrow(/does not belong/);
    expect(await api.reviewQueue({ limit: 10 })).toHaveLength(1);
    const detail = await api.getInspection({ id: queue[0].id });
    expect(detail.decisions.map((d) => d.decision)).toEqual(['defect', 'false_alarm']);
    expect(detail.decision).toBe('false_alarm');
    expect(detail.decisions[0]).toMatchObject({ operator: 'Ana Operator', comment: 'scratch' });
    const audit = await api.verifyAudit({});
    expect(audit).toMatchObject({ ok: true, count: 3, headHash: d3.hash });
    // Payloads are validated at the boundary.
    await expect(api.decide({ inspectionId: -1, decision: 'defect' })).rejects.toThrow(/inspectionId/);
    await expect(api.decide({ inspectionId: 1, decision: 'maybe' as 'defect' })).rejects.toThrow(/decision/);
    await station.close();
  }, 60_000);

  it('turns bad files into error rows and goes on', async () => {
    const cam = join(t.dir, 'cam3');
    mkdirSync(cam);
    const { station, api, inspections } = await openStation('data3');
    const model = await api.registerModel({ folder: modelDir });
    await api.addLine({ name: 'L3', folder: cam, modelId: model.id });
    const png = readFileSync(join(modelDir, '..', 'tiny-good', '000.png'));
    writeFileSync(join(cam, 'zero.png'), '');
    writeFileSync(join(cam, 'truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
    writeFileSync(join(cam, 'text.png'), 'hello, I am text');
    // A symlink loop: two links pointing at each other.
    symlinkSync(join(cam, 'loop-b.png'), join(cam, 'loop-a.png'));
    symlinkSync(join(cam, 'loop-a.png'), join(cam, 'loop-b.png'));
    await dropPart(cam, 'naïve part 01 (ü).png', 5300);
    await waitFor('6 inspections', () => inspections().length >= 6 && true);
    await station.idle();
    const byName = new Map(inspections().map((i) => [i.filePath.split('/').pop()!, i]));
    expect(byName.get('zero.png')).toMatchObject({
      verdict: 'error',
      errorText: expect.stringMatching(/empty/),
    });
    expect(byName.get('truncated.png')).toMatchObject({ verdict: 'error' });
    expect(byName.get('text.png')).toMatchObject({
      verdict: 'error',
      errorText: expect.stringMatching(/not an image/),
    });
    expect(byName.get('loop-a.png')).toMatchObject({
      verdict: 'error',
      errorText: expect.stringMatching(/loop/),
    });
    expect(byName.get('naïve part 01 (ü).png')?.verdict).toBe('pass');
    await station.close();
  }, 60_000);

  it('converts odd but valid images (RGB, 16-bit, CMYK, EXIF-rotated) and refuses a decompression bomb', async () => {
    const cam = join(t.dir, 'cam-odd');
    mkdirSync(cam);
    const { station, api, inspections } = await openStation('data-odd');
    const model = await api.registerModel({ folder: modelDir });
    await api.addLine({ name: 'odd', folder: cam, modelId: model.id });
    const gray = readFileSync(join(modelDir, '..', 'tiny-good', '001.png'));
    const stage = join(t.dir, 'odd-stage');
    mkdirSync(stage);
    const put = async (name: string, bytes: Buffer) => {
      writeFileSync(join(stage, name), bytes);
      renameSync(join(stage, name), join(cam, name));
    };
    await put('rgb.png', await sharp(gray).toColourspace('srgb').png().toBuffer());
    await put('deep.png', await sharp(gray).toColourspace('grey16').png().toBuffer());
    await put('cmyk.jpg', await sharp(gray).toColourspace('cmyk').jpeg().toBuffer());
    await put('rotated.jpg', await sharp(gray).rotate(90).jpeg().withMetadata({ orientation: 8 }).toBuffer());
    // A valid PNG header claiming 60000 x 60000 pixels: refused from the header, never decoded.
    const bomb = Buffer.from(gray.subarray(0, 64));
    bomb.writeUInt32BE(60000, 16);
    bomb.writeUInt32BE(60000, 20);
    await put('bomb.png', bomb);
    await waitFor('5 inspections', () => inspections().length >= 5 && true);
    const byName = new Map(inspections().map((i) => [i.filePath.split('/').pop()!, i]));
    for (const ok of ['rgb.png', 'deep.png', 'cmyk.jpg', 'rotated.jpg'])
      expect(byName.get(ok), ok).toMatchObject({
        verdict: expect.stringMatching(/pass|flag/),
        errorText: null,
      });
    expect(byName.get('bomb.png')).toMatchObject({
      verdict: 'error',
      errorText: expect.stringMatching(/too large|cannot decode/),
    });
    await station.close();
  }, 60_000);

  it('records a file deleted between the watcher event and the read as an error, and goes on', async () => {
    const cam = join(t.dir, 'cam-deleted');
    mkdirSync(cam);
    await dropPart(cam, 'stays.png', 5700);
    await dropPart(cam, 'vanishes.png', 5701);
    const { station, api, inspections } = await openStation('data-deleted');
    const model = await api.registerModel({ folder: modelDir });
    const line = await api.addLine({ name: 'deleted', folder: cam, modelId: model.id });
    // Both files are queued by the initial scan while the scoring worker is still loading the model.
    await waitFor('both queued', async () => (await api.listLines({}))[0].backlog === 2 || undefined);
    expect((await api.listLines({})).find((l) => l.id === line.id)!.engine).toBeNull();
    rmSync(join(cam, 'vanishes.png'));
    await waitFor('2 inspections', () => inspections().length >= 2 && true);
    const byName = new Map(inspections().map((i) => [i.filePath.split('/').pop()!, i]));
    expect(byName.get('vanishes.png')).toMatchObject({
      verdict: 'error',
      errorText: 'file deleted before it could be read',
    });
    expect(byName.get('stays.png')?.verdict).toBe('pass');
    await station.close();
  }, 60_000);

  it('retries files, not fails them, when the scoring worker dies, and restarts the worker', async () => {
    const cam = join(t.dir, 'cam-crash-worker');
    mkdirSync(cam);
    const { station, api, inspections } = await openStation('data-crash-worker', { retryMs: 300 });
    const model = await api.registerModel({ folder: modelDir });
    await api.addLine({ name: 'w', folder: cam, modelId: model.id });
    await dropPart(cam, 'before.png', 5800);
    await waitFor('first inspection', () => inspections().length >= 1 && true);
    // Kill the worker the way a crash would (the thread ends); the pool is internal, hence the cast.
    const pool = (station as unknown as { pool: ScorerPool }).pool;
    await pool.get(modelDir).close();
    await dropPart(cam, 'after-1.png', 5801);
    await dropPart(cam, 'after-2.png', 5802, true);
    await waitFor('both scored by a fresh worker', () => inspections().length >= 3 && true);
    expect(
      inspections()
        .map((i) => i.filePath.split('/').pop())
        .sort(),
    ).toEqual(['after-1.png', 'after-2.png', 'before.png']);
    expect(inspections().every((i) => i.verdict !== 'error')).toBe(true);
    await station.close();
  }, 60_000);

  it('pauses, edits and removes lines at run time; a paused line catches up when resumed', async () => {
    const camA = join(t.dir, 'cam-a');
    const camB = join(t.dir, 'cam-b');
    mkdirSync(camA);
    mkdirSync(camB);
    const { station, api, inspections } = await openStation('data-lines');
    const model = await api.registerModel({ folder: modelDir });
    const a = await api.addLine({ name: 'A', folder: camA, modelId: model.id });
    const b = await api.addLine({ name: 'B', folder: camB, modelId: model.id, recursive: true });
    await expect(api.addLine({ name: 'A', folder: camA, modelId: model.id })).rejects.toThrow();
    // Two lines at once, one model loaded once; B also watches its subfolders.
    mkdirSync(join(camB, 'shift-2'));
    await dropPart(camA, 'a1.png', 6000);
    await dropPart(join(camB, 'shift-2'), 'b1.png', 6001);
    await waitFor('both lines scored', () => inspections().length >= 2 && true);
    expect(new Set(inspections().map((i) => i.lineId))).toEqual(new Set([a.id, b.id]));

    // Paused: nothing is scored; resumed: what arrived meanwhile is scored once.
    expect((await api.setLineState({ id: a.id, state: 'paused' })).status).toBe('paused');
    await dropPart(camA, 'a2.png', 6002);
    await new Promise((r) => setTimeout(r, 800));
    expect(inspections()).toHaveLength(2);
    await api.setLineState({ id: a.id, state: 'active' });
    await waitFor('catch-up after resume', () => inspections().length >= 3 && true);
    expect(inspections()[2].filePath).toMatch(/a2\.png$/);

    // Edit: a threshold override below every score flags everything from now on.
    const edited = await api.updateLine({ id: a.id, thresholdOverride: -1, name: 'A (strict)' });
    expect(edited).toMatchObject({ name: 'A (strict)', thresholdOverride: -1 });
    await dropPart(camA, 'a3.png', 6003);
    await waitFor('scored with the override', () => inspections().length >= 4 && true);
    expect(inspections()[3]).toMatchObject({ verdict: 'flag', threshold: -1 });

    // Removed: no longer watched, but its inspections keep their line.
    await api.removeLine({ id: b.id });
    await dropPart(camB, 'b2.png', 6004);
    await new Promise((r) => setTimeout(r, 800));
    expect(inspections()).toHaveLength(4);
    expect((await api.listLines({})).map((l) => l.id)).toEqual([a.id]);
    expect((await api.listLines({ includeRemoved: true })).find((l) => l.id === b.id)?.status).toBe(
      'removed',
    );
    expect((await api.queryInspections({ lineId: b.id, limit: 10 })).rows).toHaveLength(1);
    await expect(api.setLineState({ id: b.id, state: 'active' })).rejects.toThrow(/not found/);
    await station.close();
  }, 90_000);

  it('says when a watched folder disappears and picks up again when it is back', async () => {
    const cam = join(t.dir, 'cam4');
    mkdirSync(cam);
    const { station, api, events, inspections } = await openStation('data4');
    const model = await api.registerModel({ folder: modelDir });
    const line = await api.addLine({ name: 'L4', folder: cam, modelId: model.id });
    await waitFor('watching', () =>
      events.some((e) => e.type === 'line-status' && e.line.id === line.id && e.line.status === 'watching'),
    );
    renameSync(cam, `${cam}-away`);
    await waitFor('missing', () =>
      events.some((e) => e.type === 'line-status' && e.line.status === 'missing'),
    );
    await dropPart(`${cam}-away`, 'arrived-while-away.png', 5400);
    renameSync(`${cam}-away`, cam);
    await waitFor('scored after the folder came back', () => inspections().length >= 1 && true);
    expect((await api.listLines({}))[0].status).toBe('watching');
    await station.close();
  }, 60_000);

  it('keeps a line with a corrupt model in error while other lines go on', async () => {
    const cam = join(t.dir, 'cam5');
    mkdirSync(cam);
    const broken = join(t.dir, 'broken-model');
    mkdirSync(join(broken, 'networks'), { recursive: true });
    writeFileSync(join(broken, 'meta.json'), readFileSync(join(modelDir, 'meta.json')));
    const { station, api, events } = await openStation('data5');
    const bad = await api.registerModel({ folder: broken });
    const line = await api.addLine({ name: 'broken', folder: cam, modelId: bad.id });
    await waitFor('error status', () =>
      events.some((e) => e.type === 'line-status' && e.line.id === line.id && e.line.status === 'error'),
    );
    expect((await api.listLines({}))[0].statusText).toMatch(/model cannot be loaded/);
    await expect(api.registerModel({ folder: join(t.dir, 'nope') })).rejects.toThrow(/not found/);
    await expect(api.addLine({ name: 'x', folder: join(t.dir, 'data5'), modelId: bad.id })).rejects.toThrow(
      /data dir/,
    );
    await station.close();
  }, 60_000);
});

describe('station core under pressure', () => {
  it('scores a burst of 200 images dropped at once, each exactly once, with bounded memory', async () => {
    const cam = join(t.dir, 'burst-cam');
    const staging = join(t.dir, 'burst-staging');
    mkdirSync(cam);
    mkdirSync(staging);
    const { station, api, inspections } = await openStation('burst-data', { concurrency: 8 });
    const model = await api.registerModel({ folder: modelDir });
    await api.addLine({ name: 'burst', folder: cam, modelId: model.id });
    const N = 200;
    for (let i = 0; i < N; i++) await dropPart(staging, `b${i}.png`, 20_000 + i, i % 20 === 0);
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    for (let i = 0; i < N; i++) renameSync(join(staging, `b${i}.png`), join(cam, `b${i}.png`));
    // Events keep flowing while the burst is processed (the API answers in between).
    const seenDuring: number[] = [];
    await waitFor(
      `${N} inspections`,
      () => {
        seenDuring.push(inspections().length);
        return inspections().length >= N;
      },
      120_000,
    );
    clearInterval(timer);
    await station.idle();
    expect(new Set(inspections().map((i) => i.filePath)).size).toBe(N);
    expect((await api.queryInspections({ limit: 1 })).total).toBe(N);
    expect(new Set(seenDuring).size).toBeGreaterThan(5); // progress was visible, not one lump at the end
    // Decoded images in flight are bounded by the concurrency, not by the burst size.
    expect(peak - rss0).toBeLessThan(400 * 2 ** 20);
    await station.close();
  }, 180_000);
});
