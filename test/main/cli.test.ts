// The `station` CLI end to end on real files: train a GANomaly on a folder of synthetic good parts, eval it
// on an MVTec-layout test split, score images (a corrupt one among them) with heatmaps, resume, and refuse
// damaged model folders clearly; --help and option mistakes answered in one line from the option tables.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openDatabase } from '../../src/main/station/database';
import { trainModel } from '../../src/main/tasks/train-model';
import { METHODS, selectBackend } from '../../src/ml';
import { editDistance, parseCommand, suggest, UsageError } from '../../src/main/cli/args';
import { runCli } from '../helpers/cli';
import { trainTinyModel } from '../helpers/station-fixtures';
import { tempDir, writeGray, writeMvtecSet } from '../helpers/fixtures';
import { syntheticPart } from '../helpers/synthetic';

const t = tempDir();
const data = join(t.dir, 'parts');
const model = join(t.dir, 'model');

const run = runCli;

beforeAll(async () => {
  await writeMvtecSet(data, { train: 60, testGood: 12, testBad: 12 });
  writeFileSync(join(data, 'train', 'good', 'zz-corrupt.png'), 'not a png');
});
afterAll(() => t.cleanup());

describe('station CLI', () => {
  it('trains a calibrated model folder and says which backend ran', async () => {
    const r = await run(
      'train',
      '--data',
      data,
      '--out',
      model,
      '--epochs',
      '2',
      '--batch',
      '16',
      '--holdout',
      '0.4',
      '--method',
      'ganomaly',
      '--size',
      '32',
      '--backend',
      'wasm',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/ML backend: wasm/);
    expect(r.err).toMatch(/skipped .*zz-corrupt\.png: not an image/);
    expect(r.out).toMatch(/trained ganomaly 32x32x1/);
    const meta = JSON.parse(readFileSync(join(model, 'meta.json'), 'utf8'));
    expect(meta.method).toBe('ganomaly');
    expect(meta.calibration.threshold).toBeGreaterThan(0);
    expect(meta.calibration.goodStats.n).toBeGreaterThanOrEqual(5);
    expect(meta.training.dataHash).toMatch(/^[0-9a-f]{64}$/);
    expect(meta.training.backend).toBe('wasm');
    for (const net of meta.networks)
      expect(existsSync(join(model, 'networks', net, 'model.json'))).toBe(true);
    expect(existsSync(join(model, 'checkpoint'))).toBe(false);
  });

  it('evaluates on the MVTec test split and writes JSON', async () => {
    const json = join(t.dir, 'eval.json');
    const r = await run('eval', '--data', data, '--model', model, '--json', json);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/AUROC/);
    // Scored the way the station scores: ONNX Runtime after the parity check, and it says so.
    expect(r.err).toMatch(/scoring engine: onnxruntime-node .* \(parity with tfjs/);
    const rep = JSON.parse(readFileSync(json, 'utf8'));
    expect(rep.engine).toMatch(/^onnxruntime-node/);
    expect(rep.overall.images).toBe(24);
    expect(rep.perType.map((p: { type: string }) => p.type)).toEqual(['blob']);
    expect(rep.overall.auroc).toBeGreaterThanOrEqual(0);
    expect(rep.overall.auroc).toBeLessThanOrEqual(1);
    expect(rep.overall.pixelAuroc).toBeGreaterThan(0.5);
    // Other scores from the same pass, for comparing score definitions without retraining.
    const alt = rep.scoreAlternativesAuroc;
    expect(Object.keys(alt)).toEqual(['ganomaly', 'reconstruction-error', 'map-max', 'map-p99']);
    expect(alt.ganomaly).toBeCloseTo(rep.overall.auroc, 10);
    expect(alt['map-max']).toBeGreaterThan(0.7); // the blobs are the hottest points of their maps
    expect(r.out).toMatch(/image scores from the same pass \(AUROC\): ganomaly/);
    expect(rep.threshold).toBe(
      JSON.parse(readFileSync(join(model, 'meta.json'), 'utf8')).calibration.threshold,
    );
  });

  it('scores images, writes heatmaps, and lists a corrupt file without stopping', async () => {
    const good = join(data, 'test', 'good', '000.png');
    const bad = join(data, 'test', 'blob', '000.png');
    const broken = join(t.dir, 'broken.png');
    writeFileSync(broken, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]));
    const heat = join(t.dir, 'heat');
    const r = await run('score', '--model', model, good, broken, bad, '--heatmap', heat);
    expect(r.code).toBe(1); // one file failed
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('file\tscore\tnormalised\tverdict');
    expect(lines[1]).toMatch(/\t(pass|flag)$/);
    expect(lines[2]).toMatch(/broken\.png\t-\t-\terror: /);
    expect(lines[3]).toMatch(/\t(pass|flag)$/);
    // Both images are named 000.png: each gets its own files, named after its folder.
    expect(readdirSync(heat).sort()).toEqual([
      'blob-000.heatmap.png',
      'blob-000.reconstruction.png',
      'good-000.heatmap.png',
      'good-000.reconstruction.png',
    ]);
    const png = await sharp(join(heat, 'good-000.heatmap.png')).metadata();
    expect([png.width, png.height]).toEqual([32, 32]);
    expect(readFileSync(join(heat, 'good-000.heatmap.png'))).not.toEqual(
      readFileSync(join(heat, 'blob-000.heatmap.png')),
    );
  });

  it('resumes an interrupted run from its checkpoint', async () => {
    const m2 = join(t.dir, 'model2');
    const noCk = await run('train', '--data', data, '--out', m2, '--epochs', '1', '--resume');
    expect(noCk.code).toBe(1);
    expect(noCk.err).toMatch(/nothing to resume/);
    // Interrupt a 2-epoch run after its first epoch (as Ctrl-C does in the CLI)...
    const ac = new AbortController();
    await expect(
      trainModel({
        data,
        out: m2,
        method: 'ganomaly',
        size: 32,
        channels: 1,
        epochs: 2,
        batchSize: 16,
        holdout: 0.4,
        backend: await selectBackend('wasm'),
        signal: ac.signal,
        onProgress: (p) => p.kind === 'epoch' && ac.abort(),
      }),
    ).rejects.toThrow(/cancelled; resume with --resume/);
    expect(existsSync(join(m2, 'checkpoint', 'checkpoint.json'))).toBe(true);
    expect(existsSync(join(m2, 'meta.json'))).toBe(false);
    // ...and finish it from the checkpoint.
    const r = await run(
      'train',
      '--data',
      data,
      '--out',
      m2,
      '--epochs',
      '2',
      '--batch',
      '16',
      '--holdout',
      '0.4',
      '--resume',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/resuming after epoch 1/);
    expect(r.err).not.toMatch(/epoch 1\/2:/);
    expect(r.err).toMatch(/epoch 2\/2:/);
    const meta = JSON.parse(readFileSync(join(m2, 'meta.json'), 'utf8'));
    expect(meta.training.epochs).toBe(2);
  });

  it('refuses damaged and foreign model folders clearly', async () => {
    const img = join(data, 'test', 'good', '001.png');
    let r = await run('score', '--model', join(t.dir, 'nope'), img);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/model folder not found/);
    const broken = join(t.dir, 'broken-model');
    await run('train', '--data', data, '--out', broken, '--epochs', '1', '--batch', '16', '--holdout', '0.4');
    // Whatever the default method is, remove one of its networks' weights.
    const nets = (JSON.parse(readFileSync(join(broken, 'meta.json'), 'utf8')) as { networks: string[] })
      .networks;
    rmSync(join(broken, 'networks', nets[nets.length - 1], 'weights.bin'));
    r = await run('score', '--model', broken, img);
    expect(r.err).toMatch(/damaged model/);
    writeFileSync(join(broken, 'meta.json'), '{"format": "something-else"}');
    r = await run('score', '--model', broken, img);
    expect(r.err).toMatch(/not an Anomaly Station model/);
  });

  it('calibrates the F1-optimal threshold when labelled defects are given', async () => {
    const defects = join(t.dir, 'labelled-defects');
    mkdirSync(defects);
    for (let i = 0; i < 6; i++) {
      const p = syntheticPart({ size: 48, channels: 1, seed: 7000 + i, defect: true });
      await writeGray(join(defects, `d${i}.png`), p.sample.data, 48, 48);
    }
    const m3 = join(t.dir, 'model3');
    const r = await run(
      'train',
      '--data',
      data,
      '--out',
      m3,
      '--epochs',
      '1',
      '--batch',
      '16',
      '--holdout',
      '0.4',
      '--defects',
      defects,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/F1-optimal on \d+ held-out good and 6 labelled defect images/);
    const meta = JSON.parse(readFileSync(join(m3, 'meta.json'), 'utf8'));
    expect(meta.calibration.method).toBe('f1');
    expect(meta.calibration.defectCount).toBe(6);
  });

  it('exports the ONNX graph after checking it against tfjs', async () => {
    const file = join(t.dir, 'exported.onnx');
    const r = await run('export', '--model', model, '--onnx', file);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/parity OK/);
    expect(readFileSync(file).subarray(0, 200).toString('latin1')).toMatch(/anomaly-station/);
  });

  it('verifies the audit chain and names the row someone edited by hand', async () => {
    const dataDir = join(t.dir, 'audit');
    const db = openDatabase(join(dataDir, 'station.db'));
    const m = db.registerModel({
      folder: model,
      meta: JSON.parse(readFileSync(join(model, 'meta.json'), 'utf8')),
    });
    const line = db.addLine({ name: 'L', folder: t.dir, modelId: m.id });
    for (let i = 0; i < 3; i++) {
      const id = db.insertInspection({
        lineId: line.id,
        modelId: m.id,
        modelVersion: m.version,
        filePath: `/cam/${i}.png`,
        fileSize: 1,
        fileMtimeMs: i,
        sha256: null,
        receivedAt: new Date(),
        scoredAt: new Date(),
        verdict: 'flag',
        rawScore: 2,
        threshold: 1,
      });
      db.appendDecision({ inspectionId: id, decision: 'defect', operator: 'op' });
    }
    db.close();
    const ok = await run('verify-audit', '--data-dir', dataDir);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/audit chain OK: 3 decisions/);
    // Someone edits a decision with a raw SQLite connection (triggers dropped first).
    const raw = new Database(join(dataDir, 'station.db'));
    const triggers = raw
      .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'decisions'")
      .all() as { name: string }[];
    for (const tr of triggers) raw.exec(`DROP TRIGGER ${tr.name}`);
    raw.prepare("UPDATE decisions SET decision = 'false_alarm' WHERE id = 2").run();
    raw.close();
    const bad = await run('verify-audit', '--data-dir', dataDir);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/BROKEN at decision 2/);
  });

  it('says in one line that a model without a reconstruction gets heatmaps only', async () => {
    // Patch mode keeps no full-image reconstruction (as feature-based methods have none).
    const patchModel = await trainTinyModel(t.dir, 'patch-model');
    const heat = join(t.dir, 'heat-patch');
    const r = await run(
      'score',
      '--model',
      patchModel,
      join(data, 'test', 'good', '000.png'),
      '--heatmap',
      heat,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err.split('\n').filter((l) => /reconstruction/.test(l))).toEqual([
      'no reconstruction PNGs: this model (ganomaly, patch mode) gives no reconstruction; heatmaps only',
    ]);
    expect(readdirSync(heat)).toEqual(['000.heatmap.png']);
  });

  it('prints one line with a suggestion for a wrong command', async () => {
    const r = await run('frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toBe('station: unknown command "frobnicate" (station --help lists the commands)');
    const typo = await run('trian');
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/^station: unknown command "trian"; did you mean train\?/);
  });
});

describe('station --help and option errors', () => {
  it('prints the usage and exits 0 for --help, -h and help', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(0);
      for (const c of [
        'train',
        'eval',
        'score',
        'start',
        'serve',
        'watch',
        'verify-audit',
        'report',
        'backend',
      ])
        expect(r.out).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    }
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/^station <command>/);
  });

  it("prints a command's options from its table for <command> --help, -h and help <command>", async () => {
    for (const argv of [
      ['train', '--help'],
      ['train', '-h'],
      ['help', 'train'],
      ['train', '--data', 'x', '--nonsense', '--help'],
    ]) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.err).toBe(''); // nothing ran: not even the backend line
      expect(r.out).toMatch(/^station train \[options\]/);
      for (const o of ['data DIR', 'epochs N', 'patch', 'working-size PX', 'resume', 'backend', 'help'])
        expect(r.out).toMatch(new RegExp(`^  (-h, )?--${o}( |$)`, 'm'));
      expect(r.out).toMatch(/--epochs N +training epochs \(at most\) \(default 15\)/);
    }
    for (const c of [
      'eval',
      'score',
      'dataset',
      'start',
      'demo',
      'serve',
      'watch',
      'verify-audit',
      'report',
      'export',
      'backend',
    ]) {
      const r = await run(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.out).toMatch(new RegExp(`^station ${c} `));
    }
    const start = await run('start', '--help');
    expect(start.out).toMatch(/^ {2}--loop +the demo camera plays the sample over and over/m);
  });

  it('answers a mistyped or incomplete option with one line and exit 2, before doing anything', async () => {
    const cases: [string[], string][] = [
      [
        ['train', '--data', data, '--out', join(t.dir, 'x'), '--epoch', '3'],
        'station train: unknown option --epoch; did you mean --epochs? (station train --help lists its options)',
      ],
      [
        ['train', '--stirde', '8'],
        'station train: unknown option --stirde; did you mean --stride? (station train --help lists its options)',
      ],
      [
        ['train', '--work', '8'],
        'station train: unknown option --work; did you mean --working-size? (station train --help lists its options)',
      ],
      [
        ['report', '--form', '2025-01-01'],
        'station report: unknown option --form; did you mean --from? (station report --help lists its options)',
      ],
      [['eval', '--zzz'], 'station eval: unknown option --zzz (station eval --help lists its options)'],
      [
        ['score', '--model'],
        'station score: --model needs a value (--model MODEL) (station score --help lists its options)',
      ],
      [
        ['train', '--data', '--out', 'x'],
        'station train: --data needs a value, got the option --out (for a value that starts with "-" write --data=--out) (station train --help lists its options)',
      ],
      [
        ['train', '--patch=yes'],
        'station train: --patch takes no value (got "yes") (station train --help lists its options)',
      ],
      [
        ['backend', 'extra'],
        'station backend: unexpected argument "extra" (station backend --help lists its options)',
      ],
      [
        ['train', '--data', data, '--out', 'x', '--epochs', 'many'],
        'station train: --epochs must be a number (got "many") (station train --help lists its options)',
      ],
      [
        ['train', '--data', data, '--out', 'x', '--method', 'ganomly'],
        `station train: --method must be one of ${METHODS.join(', ')} (got "ganomly"); did you mean ganomaly? (station train --help lists its options)`,
      ],
      [
        ['watch', '--model', 'm'],
        'station watch: watch needs DIR and --model MODEL (station watch --help lists its options)',
      ],
    ];
    for (const [argv, line] of cases) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toBe(line);
      expect(r.out).toBe('');
    }
    expect(existsSync(join(t.dir, 'x'))).toBe(false);
  });

  it('parses the option table: defaults, negative numbers, --x=v, positionals only where taken', () => {
    const cmd = {
      name: 'demo-cmd',
      args: 'FILE...',
      summary: 'a test command',
      options: {
        threshold: { type: 'string', value: 'X', help: 'a number' },
        every: { type: 'string', value: 'S', default: '3', help: 'seconds' },
        loop: { type: 'boolean', help: 'again' },
      },
    } as const;
    const p = parseCommand(cmd, ['a.png', '--threshold', '-0.5', 'b.png', '--loop', '--backend=wasm']);
    expect(p).toEqual({
      values: { threshold: '-0.5', every: '3', loop: true, backend: 'wasm' },
      positionals: ['a.png', 'b.png'],
      help: false,
    });
    expect(parseCommand(cmd, ['--threshold=-x']).values.threshold).toBe('-x');
    expect(() => parseCommand({ ...cmd, args: undefined }, ['a.png'])).toThrow(UsageError);
    expect(suggest('epoch', ['epochs', 'batch'])).toBe('epochs');
    expect(suggest('xyz', ['epochs', 'batch'])).toBeUndefined();
    expect(editDistance('stirde', 'stride')).toBe(1);
  });
});
