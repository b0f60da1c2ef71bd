// Where an update finds its images, on a real model folder, SQLite file and artifact store: a model's training
// split is reproduced from its folder while the folder still hashes as recorded, a child's good sets add what
// its ancestors' updates added, and a past inspection's image is its stored original when the scoring model
// prepared images the parent's way, else the unchanged camera file prepared the parent's way.
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitGoodImages, trainingImages } from '../../../../src/main/io/datasets';
import { inputHandling, readModelMeta } from '../../../../src/main/io/model-store';
import { decodeImage, encodePng } from '../../../../src/main/io/images';
import { ArtifactStore } from '../../../../src/main/station/artifacts';
import { openDatabase, type StationDatabase } from '../../../../src/main/station/database';
import { goodSets, inspectionImage, sameInput } from '../../../../src/main/station/lineage/images';
import { LineageStore } from '../../../../src/main/station/lineage/store';
import type { ModelMeta } from '../../../../src/ml';
import { tempDir } from '../../../helpers/fixtures';
import { trainTinyPatchcore, writeTextured } from '../../../helpers/station-fixtures';
import { fakeModelMeta } from '../../../helpers/station-records';

const t = tempDir('lineage-images-');
let db: StationDatabase;
let store: LineageStore;
let artifacts: ArtifactStore;
let modelDir: string;
let meta: ModelMeta;
let modelId: number;

beforeAll(async () => {
  modelDir = await trainTinyPatchcore(t.dir, 'pc');
  meta = await readModelMeta(modelDir);
  db = openDatabase(join(t.dir, 'station.db'));
  store = new LineageStore(db);
  artifacts = new ArtifactStore(join(t.dir, 'images'));
  modelId = db.registerModel({ folder: modelDir, meta }).id;
}, 120_000);
afterAll(() => {
  db?.close();
  t.cleanup();
});

describe('a model’s good images', () => {
  it("reproduces the training folder's split, and a child's adds its update's images", async () => {
    const got = await goodSets(db, store, artifacts, modelId);
    const split = splitGoodImages(await trainingImages(meta.training!.dataDir!), 0.5);
    expect(got.sets!.train.map((r) => r.file)).toEqual(split.train);
    expect(got.sets!.calibration.map((r) => r.file)).toEqual(split.calibration);
    expect(got.sets!.validation).toHaveLength(meta.training!.validationImages);
    expect(got.sets!.train.every((r) => !r.asSeen && r.id === -1)).toBe(true);

    const child = db.registerModel({ folder: join(t.dir, 'pc-u1'), meta: { ...meta, name: 'pc-u1' } }).id;
    const line = db.addLine({ name: 'A', folder: join(t.dir, 'cam'), modelId }).id;
    const insp = (n: number) =>
      db.insertInspection({
        lineId: line,
        modelId,
        modelVersion: 'v',
        filePath: `/cam/${n}.png`,
        fileSize: 1,
        fileMtimeMs: n,
        sha256: 'a'.repeat(63) + n,
        receivedAt: n,
        scoredAt: n,
        rawScore: 9,
        threshold: 1,
        verdict: 'flag',
      });
    const [a, b, c] = [insp(1), insp(2), insp(3)];
    const key = (n: number) => String(n).repeat(64);
    store.append({
      kind: 'created',
      modelId: child,
      parentModelId: modelId,
      operator: 'Eve',
      details: {},
      images: [
        { inspectionId: a, decisionId: null, sha256: 'x', imageKey: key(1), role: 'added', note: null },
        { inspectionId: b, decisionId: null, sha256: 'y', imageKey: key(2), role: 'held-out', note: null },
        { inspectionId: c, decisionId: null, sha256: 'z', imageKey: null, role: 'disputed', note: 'argued' },
      ],
    });
    const kid = (await goodSets(db, store, artifacts, child)).sets!;
    expect(kid.train).toHaveLength(got.sets!.train.length + 1);
    expect(kid.train.at(-1)).toEqual({ id: a, file: artifacts.pathOf(key(1)), asSeen: true });
    expect(kid.calibration.at(-1)).toEqual({ id: b, file: artifacts.pathOf(key(2)), asSeen: true });
    expect(kid.validation).toEqual(got.sets!.validation);
  });

  it('says why when the training folder changed', async () => {
    copyFileSync(join(meta.training!.dataDir!, '000.png'), join(meta.training!.dataDir!, 'zzz-new.png'));
    expect(await goodSets(db, store, artifacts, modelId)).toEqual({
      sets: null,
      reason: expect.stringMatching(/changed since it was trained \(hash differs\)/),
    });
  });
});

describe("a past inspection's image", () => {
  it('is the stored original when the scoring model prepared it the same way', async () => {
    const key = await artifacts.put(await encodePng(new Uint8Array(64 * 48).fill(120), 64, 48, 1));
    const got = await inspectionImage(db, artifacts, meta, {
      inspectionId: 1,
      sha256: 'unused',
      originalKey: key,
      modelId,
      filePath: '/nowhere.png',
    });
    expect(got).toEqual({ key });
  });

  it("else the unchanged camera file, prepared the parent's way; a changed one is refused", async () => {
    const other = db.registerModel({ folder: '/gan', meta: fakeModelMeta('gan', 0.5) }).id;
    expect(sameInput(fakeModelMeta('gan', 0.5).input, meta.input)).toBe(false);
    expect(sameInput({ ...meta.input }, meta.input)).toBe(true);
    const file = join(t.dir, 'camera-part.png');
    await writeTextured(file, { seed: 42, pitch: 6 });
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    const past = {
      inspectionId: 2,
      sha256: sha,
      originalKey: 'f'.repeat(64),
      modelId: other,
      filePath: file,
    };
    const got = await inspectionImage(db, artifacts, meta, past);
    expect(got).toHaveProperty('key');
    // Prepared as the parent prepares images (not the camera's 200 x 150 when it judges at another scale), stored.
    const want = await decodeImage(readFileSync(file), file, inputHandling(meta.input).load);
    // The update reads it as is (asSeen: channels only, no resize): the same pixels.
    const path = artifacts.pathOf((got as { key: string }).key);
    const stored = await decodeImage(readFileSync(path), path, { channels: meta.input.channels });
    expect([stored.width, stored.height]).toEqual([want.width, want.height]);
    expect(Buffer.from(stored.data).equals(Buffer.from(want.data))).toBe(true);
    writeFileSync(file, 'changed');
    expect(await inspectionImage(db, artifacts, meta, past)).toEqual({
      reason: 'the camera file changed since it was scored',
    });
  });
});
