// The Live view's rate comes from the database: the station counts each line's inspections per 10-second
// bucket over the last minutes (an index range on scored_at), so a page opened now shows what the line
// has been doing, not only what it saw since it opened.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validated } from '../../../src/main/station/in-process';
import { Station } from '../../../src/main/station/station';
import { tempDir } from '../../helpers/fixtures';
import { fakeModelMeta } from '../../helpers/station-records';

const t = tempDir('station-throughput-');
let station: Station;

beforeAll(async () => {
  station = await Station.open({ dataDir: join(t.dir, 'data'), backend: 'wasm', shell: 'cli' });
});
afterAll(async () => {
  await station?.close();
  t.cleanup();
});

describe('throughput', () => {
  it('counts the inspections of the last minutes per line and 10-second bucket, from the database', async () => {
    const db = station.db;
    const model = db.registerModel({ folder: '/models/m', meta: fakeModelMeta('m', 0.5) });
    // Lines on folders the station never watches: rows are written straight into the database.
    const a = db.addLine({ name: 'A', folder: join(t.dir, 'a'), modelId: model.id }).id;
    const b = db.addLine({ name: 'B', folder: join(t.dir, 'b'), modelId: model.id }).id;
    const now = Date.now();
    let n = 0;
    const row = (lineId: number, ago: number) =>
      db.insertInspection({
        lineId,
        modelId: model.id,
        modelVersion: 'v',
        filePath: `/x/${n++}.png`,
        fileSize: 1,
        fileMtimeMs: now - ago,
        sha256: null,
        receivedAt: now - ago,
        scoredAt: now - ago,
        rawScore: 0.1,
        threshold: 0.5,
        verdict: 'pass',
      });
    // A: 20 a minute for the last 3 minutes; B: 4 images; both: some older than the window.
    for (let s = 1; s <= 180; s += 3) row(a, s * 1000);
    for (const s of [5, 70, 71, 200]) row(b, s * 1000);
    for (const s of [400, 900]) for (const line of [a, b]) row(line, s * 1000);

    const api = validated(station);
    const r = await api.throughput({ seconds: 300 });
    expect(r.bucketMs).toBe(10_000);
    expect(r.now).toBeGreaterThanOrEqual(now);
    expect(r.since % r.bucketMs).toBe(0);
    expect(r.since).toBeLessThanOrEqual(r.now - 300_000);
    expect(r.since).toBeGreaterThan(r.now - 310_000);
    const total = (id: number) =>
      r.lines.find((l) => l.lineId === id)!.buckets.reduce((sum, x) => sum + x.count, 0);
    expect(total(a)).toBe(60);
    expect(total(b)).toBe(4);
    for (const l of r.lines)
      for (const x of l.buckets) {
        expect(x.start % r.bucketMs).toBe(0);
        expect(x.start).toBeGreaterThanOrEqual(r.since);
        expect(x.start).toBeLessThanOrEqual(r.now);
      }
    // Each bucket holds exactly the rows scored in it.
    const rows = db.queryInspections({ lineId: b, from: r.since }, { limit: 100 }).rows;
    const expected = new Map<number, number>();
    for (const x of rows) {
      const start = Math.floor(Date.parse(x.scoredAt) / 10_000) * 10_000;
      expected.set(start, (expected.get(start) ?? 0) + 1);
    }
    const got = r.lines.find((l) => l.lineId === b)!.buckets;
    expect(new Map(got.map((x) => [x.start, x.count]))).toEqual(expected);

    await expect(api.throughput({ seconds: 5 })).rejects.toThrow(/throughput: seconds/);
  });
});
