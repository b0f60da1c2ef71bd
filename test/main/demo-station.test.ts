// The demo that `npm start` runs, on a real station with real folders, real training and real scoring (a
// tiny demo model on synthetic parts instead of the DeepPCB one): the station answers while the demo model
// trains as a training job that names the line waiting for it, a cut-off training resumes on the next
// start, the demo camera drops every test board once and then idles (also across restarts) unless asked to
// loop, and every inspection's normalised score is measured against the threshold that judged it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Inspection, StationApi } from '../../src/common/api';
import { startDemo, DEMO_LINE } from '../../src/main/cli/demo-station';
import type { DemoModel } from '../../src/main/cli/demo';
import { formatInspection } from '../../src/main/cli/station-commands';
import { validated } from '../../src/main/station/in-process';
import { normalisedAgainst } from '../../src/main/station/normalised-score';
import { Station } from '../../src/main/station/station';
import { quantile } from '../../src/ml/metrics';
import type { Calibration } from '../../src/ml';
import { tempDir, writeMvtecSet } from '../helpers/fixtures';
import { waitFor } from '../helpers/station-fixtures';

const t = tempDir();
const sample = join(t.dir, 'sample');
const dataDir = join(t.dir, 'station');
const camera = `${dataDir}-demo-camera`;
const TEST_BOARDS = 6;

/** A small stand-in for DEMO_MODEL: same shape, seconds to train. The median as the line's threshold
 * makes it differ from the calibrated one, so the override is what judges. */
const TINY: DemoModel = {
  name: 'demo-tiny',
  description: 'a tiny test GANomaly',
  training: { method: 'ganomaly', size: 32, channels: 1, epochs: 2, batchSize: 16, holdout: 0.5 },
  lineThresholdQuantile: 0.5,
};

beforeAll(async () => {
  await writeMvtecSet(sample, { train: 48, testGood: 3, testBad: 3 });
});
afterAll(() => t.cleanup());

const open = () => Station.open({ dataDir, backend: 'wasm', settleMs: 100 });
const all = async (api: StationApi): Promise<Inspection[]> =>
  (await api.queryInspections({ limit: 1000 })).rows;

describe('the demo station', () => {
  it('answers while the demo model trains as a job for the demo line, and resumes it after a restart', async () => {
    let station = await open();
    let api = validated(station);
    const logs: string[] = [];
    const log = (m: string) => void logs.push(m);
    let demo = startDemo(api, dataDir, { everySeconds: 0.05, model: TINY, data: sample, log });
    const job = await waitFor(
      'the demo training job',
      async () =>
        logs.length > 0 &&
        (await api.listTrainingJobs({})).find((j) => j.name === 'demo-tiny' && j.state === 'running'),
    );
    // The Live view finds the line that waits for this job's model in its settings.
    expect(job.settings.forLine).toBe(DEMO_LINE);
    expect(await api.listLines({})).toEqual([]);
    expect((await api.getInfo({})).dataDir).toBe(dataDir);
    expect(logs.join('\n')).toMatch(/demo model: training a tiny test GANomaly .* as training job \d+/);

    // Ctrl-C while it trains: the job is cut off, and the next start resumes it.
    demo.stop();
    expect(await demo.ready).toBeNull();
    await station.close();
    station = await open();
    api = validated(station);
    expect((await api.listTrainingJobs({})).find((j) => j.id === job.id)?.state).toBe('interrupted');
    demo = startDemo(api, dataDir, { everySeconds: 0.05, model: TINY, data: sample, log });
    const ready = await demo.ready;
    expect(ready).not.toBeNull();
    expect(logs.join('\n')).toMatch(new RegExp(`demo model: resuming training job ${job.id}`));
    const jobs = await api.listTrainingJobs({});
    expect(jobs.map((j) => [j.id, j.state])).toEqual([[job.id, 'done']]);

    // The demo line judges at the configured quantile of the held-out good scores, and says so.
    const model = (await api.listModels({}))[0];
    const cal = await api.getCalibration({ modelId: model.id });
    const override = quantile(cal.goodScores, 0.5);
    expect(ready!.line).toMatchObject({ name: DEMO_LINE, folder: camera, modelId: model.id });
    expect(ready!.line.thresholdOverride).toBeCloseTo(override, 12);
    expect(override).not.toBeCloseTo(model.threshold!, 6);
    expect(logs).toContain(
      `${DEMO_LINE}: watching ${camera} with model demo-tiny; threshold ${override.toPrecision(4)} ` +
        `(the line's override; the model's calibrated one is ${model.threshold!.toPrecision(4)})`,
    );

    // Every test board once, then idle.
    await waitFor('every board scored and the camera idle', async () => {
      return (await all(api)).length === TEST_BOARDS && logs.some((l) => /idle now/.test(l));
    });
    await station.idle();
    const files = readdirSync(camera).sort();
    expect(files).toHaveLength(TEST_BOARDS);
    expect(files.map((f) => f.replace(/^part-\d+-/, '')).sort()).toEqual([
      'blob-000.png',
      'blob-001.png',
      'blob-002.png',
      'good-000.png',
      'good-001.png',
      'good-002.png',
    ]);
    expect(logs).toContain(
      `demo camera: played all ${TEST_BOARDS} demo parts; idle now (\`npm start -- --loop\` repeats them)`,
    );

    // One normalised score per inspection, against the threshold that judged it: 0.5 is where flags start.
    const meta = JSON.parse(readFileSync(join(model.folder, 'meta.json'), 'utf8')) as {
      calibration: Calibration;
    };
    const rows = await all(api);
    expect(new Set(rows.map((r) => r.verdict))).toEqual(new Set(['pass', 'flag']));
    for (const r of rows) {
      expect(r.threshold).toBe(ready!.line.thresholdOverride);
      expect(r.normalizedScore! > 0.5).toBe(r.verdict === 'flag');
      expect(r.normalizedScore).toBeCloseTo(
        normalisedAgainst(r.rawScore!, meta.calibration, r.threshold!),
        12,
      );
      // ...and the console prints that same number beside the verdict.
      expect(formatInspection(r, DEMO_LINE)).toContain(
        `norm ${r.normalizedScore!.toFixed(3)}  ${r.verdict.toUpperCase()}`,
      );
    }
    demo.stop();
    await station.close();
  }, 300_000);

  it('drops nothing more on the next start, and plays the sample again only with loop', async () => {
    let station = await open();
    let api = validated(station);
    const logs: string[] = [];
    const log = (m: string) => void logs.push(m);
    let demo = startDemo(api, dataDir, { everySeconds: 0.05, model: TINY, data: sample, log });
    expect((await demo.ready)?.line.name).toBe(DEMO_LINE);
    expect(logs.join('\n')).not.toMatch(/training/); // the model from before is used
    expect(logs.join('\n')).toMatch(
      /demo camera: the 6 demo parts were all played on an earlier start \(see History\); idle/,
    );
    expect(await api.listTrainingJobs({})).toHaveLength(1); // no new training
    expect(readdirSync(camera)).toHaveLength(TEST_BOARDS);
    demo.stop();
    await station.close();

    station = await open();
    api = validated(station);
    demo = startDemo(api, dataDir, { everySeconds: 0.05, model: TINY, data: sample, log, loop: true });
    await demo.ready;
    // Two more rounds: new names, numbered on from the boards already there.
    await waitFor('two more rounds', () => readdirSync(camera).length >= 3 * TEST_BOARDS);
    demo.stop();
    const numbers = readdirSync(camera)
      .map((f) => Number(/^part-(\d+)-/.exec(f)![1]))
      .sort((a, b) => a - b);
    expect(numbers.slice(0, 3 * TEST_BOARDS)).toEqual([...Array(3 * TEST_BOARDS).keys()]);
    await station.idle();
    await station.close();
  }, 120_000);
});
