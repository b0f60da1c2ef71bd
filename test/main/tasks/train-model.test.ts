// Training says, before it trains, when the held-out calibration images are too few for the false-alarm
// target (a 0.5 % rate needs about 200 of them): the warning comes through onWarning first and stays in the
// result. A tiny real GANomaly on synthetic parts (wasm).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { trainModel } from '../../../src/main/tasks/train-model';
import { selectBackend } from '../../../src/ml';
import { tempDir } from '../../helpers/fixtures';
import { writePart } from '../../helpers/station-fixtures';

const t = tempDir('station-train-warning-');
afterAll(() => t.cleanup());

describe('trainModel', () => {
  it('warns before training when the calibration half of the hold-out is too small for the target', async () => {
    const data = join(t.dir, 'good');
    mkdirSync(data);
    for (let i = 0; i < 60; i++) await writePart(join(data, `${String(i).padStart(3, '0')}.png`), 500 + i);
    const events: string[] = [];
    const r = await trainModel({
      data,
      out: join(t.dir, 'model'),
      method: 'ganomaly',
      size: 32,
      channels: 1,
      epochs: 1,
      batchSize: 16,
      holdout: 0.4,
      patch: { workingSize: 0, stepsPerEpoch: 2 },
      overrides: { ngf: 8, ndf: 8, latent: 16 },
      backend: await selectBackend('wasm'),
      onWarning: (w) => events.push(`warning: ${w}`),
      onProgress: (p) => events.push(`progress ${p.kind}`),
    });
    const calibrationImages = r.meta.training!.calibrationImages;
    expect(calibrationImages).toBeLessThan(200);
    expect(r.meta.calibration!.targetFalseAlarmRate).toBe(0.005);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain(
      `${calibrationImages} held-out good images cannot estimate a 0.5 % false-alarm rate: that needs at least 200`,
    );
    // Said first, not after the epochs.
    expect(events[0]).toBe(`warning: ${r.warnings[0]}`);
    expect(events.some((e) => e.startsWith('progress'))).toBe(true);
  });
});
