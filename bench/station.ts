// The station benchmark: end-to-end throughput and latency (file renamed into the camera folder -> row
// committed), measured through the real station (chokidar, sharp, scoring worker, PNG artifacts, SQLite),
// beside the bare model's scoring rate measured in the same run on the same engine.
//
//   npm run bench:station -- [--method patchcore] [--size N] [--channels 1] [--camera 640x480] [--rate 5]
//                            [--steady 60] [--burst 1000] [--engine auto|tfjs|onnxruntime] [--out bench/results]
//
// The model is the method's default (the recommended one unless --method says otherwise), trained on 40 good
// camera images; the camera images are the demo's synthetic machined-metal parts at --camera size (a VGA
// camera by default), so a feature model judges them at its default working resolution (half: 320x240).
//
// Steady: images dropped at --rate per second for --steady images; reports p50/p95 latency and throughput.
// Burst: --burst images dropped at once; reports images/s, peak RSS, and which stage took the time.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Station } from '../src/main/station/station';
import { execFileSync } from 'node:child_process';
import { loadModel } from '../src/main/io/model-store';
import { chooseEngine, type EnginePreference } from '../src/main/station/engine-choice';
import {
  DEFAULT_METHOD,
  DEFAULT_WORKING_SIZE,
  FEATURE_METHODS,
  selectBackend,
  scoreImages,
  type Method,
} from '../src/ml';
import { demoPart } from '../src/main/tasks/demo-parts';
import { decodeImage } from '../src/main/io/images';
import { describeMachine } from './common';

const { values } = parseArgs({
  options: {
    method: { type: 'string', default: DEFAULT_METHOD },
    size: { type: 'string' },
    channels: { type: 'string', default: '1' },
    camera: { type: 'string', default: '640x480' },
    rate: { type: 'string', default: '5' },
    steady: { type: 'string', default: '60' },
    burst: { type: 'string', default: '1000' },
    engine: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'bench/results' },
    work: { type: 'string', default: join(os.tmpdir(), `station-bench-${process.pid}`) },
  },
});
const method = values.method as Method;
const feature = FEATURE_METHODS.includes(method);
const size = values.size !== undefined ? Number(values.size) : feature ? DEFAULT_WORKING_SIZE : 64;
const channels = Number(values.channels) as 1 | 3;
const [camW, camH] = values.camera.split('x').map(Number);
const rate = Number(values.rate);
const steadyN = Number(values.steady);
const burstN = Number(values.burst);
const engine = values.engine as EnginePreference;
const work = values.work;
/** The scoring worker's largest batch (ScorerPool maxBatch in station.ts). */
const BURST_BATCH = 16;
mkdirSync(work, { recursive: true });

/** A camera image: one of the demo's synthetic machined-metal parts (a scratch when `defect`), as PNG bytes. */
async function part(seed: number, defect: boolean): Promise<Buffer> {
  const { pixels } = demoPart(seed, camW, camH, defect ? 'scratch' : undefined);
  return sharp(Buffer.from(pixels), { raw: { width: camW, height: camH, channels: 1 } })
    .toColourspace(channels === 3 ? 'srgb' : 'b-w')
    .png()
    .toBuffer();
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const pct = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};

async function main() {
  await selectBackend('wasm');
  const m = describeMachine();
  const machine = `${m.cpu}, ${m.cpus} logical CPUs, ${m.memoryGiB} GiB, ${m.platform} ${m.arch}; load average at start ${m.loadavg.join(' / ')}`;
  console.error(`machine: ${machine}`);
  // 1. A real model of the method's default on good parts (quality is not the point here; the pipeline is).
  const good = join(work, 'good');
  mkdirSync(good, { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(good, `g${i}.png`), await part(100 + i, false));
  const modelDir = join(work, 'model');
  console.error(`training a ${method} (${feature ? 'fitted' : '1 epoch'}) for the benchmark...`);
  // In a child process, so training's memory does not count in the station's RSS below.
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/main/cli/index.ts',
      'train',
      '--data',
      good,
      '--out',
      modelDir,
      '--method',
      method,
      '--size',
      String(size),
      '--channels',
      String(channels),
      '--epochs',
      '1',
      '--batch',
      '16',
      '--holdout',
      '0.5',
      '--backend',
      'wasm',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );

  // 2. The bare model rate on the same engine the station will pick, on decoded images with maps and
  // reconstructions: at batch 1 (a camera's steady trickle) and at the station's burst batch (16: the
  // scoring worker batches whatever is queued), which is what a burst's throughput is compared with.
  const loaded = await loadModel(modelDir);
  const choice = await chooseEngine(modelDir, loaded, engine, 1);
  // Decoded as the station decodes them for this model (a feature model: at its working resolution).
  const samples = await Promise.all(
    Array.from({ length: 16 }, async (_, i) =>
      decodeImage(new Uint8Array(await part(500 + i, false)), `bare-${i}.png`, loaded.load),
    ),
  );
  const bareAt = async (batchSize: number): Promise<number[]> => {
    const rates: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const t0 = performance.now();
      for (let k = 0; k < 2; k++)
        await scoreImages(choice.engine, samples, loaded.input, {
          maps: true,
          reconstructions: loaded.input.mode === 'resize',
          batchSize,
        });
      rates.push((samples.length * 2) / ((performance.now() - t0) / 1000));
    }
    return rates;
  };
  const bare1 = await bareAt(1);
  const bare = await bareAt(BURST_BATCH);
  await choice.engine.dispose();
  const bareRate = median(bare);
  console.error(
    `bare model: ${median(bare1).toFixed(1)} img/s at batch 1, ${bareRate.toFixed(1)} at batch ${BURST_BATCH}, on ${choice.engine.description} (${choice.reason})`,
  );

  // 3. The station.
  const cam = join(work, 'cam');
  const staging = join(work, 'staging');
  mkdirSync(cam, { recursive: true });
  mkdirSync(staging, { recursive: true });
  const station = await Station.open({ dataDir: join(work, 'data'), backend: 'wasm', engine, settleMs: 100 });
  const model = await station.registerModel({ folder: modelDir });
  const line = await station.addLine({ name: 'bench', folder: cam, modelId: model.id });
  const dropped = new Map<string, number>();
  const latency: number[] = [];
  const committed: number[] = [];
  station.onEvent((e) => {
    if (e.type !== 'inspection') return;
    const t = dropped.get(e.inspection.filePath);
    if (t !== undefined) {
      latency.push(performance.now() - t);
      committed.push(performance.now());
    }
  });
  // Wait for the line to be watching with its model loaded.
  for (;;) {
    const s = (await station.listLines({})).find((l) => l.id === line.id)!;
    if (s.status === 'watching' && s.engine) break;
    if (s.status === 'error') throw new Error(s.statusText);
    await new Promise((r) => setTimeout(r, 100));
  }
  const images = await Promise.all(Array.from({ length: 20 }, (_, i) => part(900 + i, i % 5 === 0)));
  const drop = (name: string, i: number) => {
    const tmp = join(staging, name);
    writeFileSync(tmp, images[i % images.length]);
    const file = join(cam, name);
    dropped.set(file, performance.now());
    renameSync(tmp, file);
  };

  // Steady rate.
  console.error(`steady: ${steadyN} images at ${rate}/s...`);
  const t0 = performance.now();
  for (let i = 0; i < steadyN; i++) {
    drop(`steady-${i}.png`, i);
    await new Promise((r) => setTimeout(r, 1000 / rate));
  }
  while (latency.length < steadyN) await new Promise((r) => setTimeout(r, 50));
  const steadySeconds = (performance.now() - t0) / 1000;
  const steadyLat = latency.splice(0);
  committed.splice(0);

  // Burst.
  console.error(`burst: ${burstN} images at once...`);
  for (const k of Object.keys(station.stageTimes) as (keyof typeof station.stageTimes)[])
    station.stageTimes[k] = 0;
  const baseRss = process.memoryUsage().rss;
  let peakRss = baseRss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  // Stage the whole burst first, then move it in as fast as rename allows.
  for (let i = 0; i < burstN; i++) writeFileSync(join(staging, `burst-${i}.png`), images[i % images.length]);
  const sent0 = station.scoringBatches();
  const b0 = performance.now();
  for (let i = 0; i < burstN; i++) {
    const file = join(cam, `burst-${i}.png`);
    dropped.set(file, performance.now());
    renameSync(join(staging, `burst-${i}.png`), file);
  }
  while (latency.length < burstN) await new Promise((r) => setTimeout(r, 50));
  const burstSeconds = (performance.now() - b0) / 1000;
  clearInterval(rssTimer);
  const stages = { ...station.stageTimes };
  const sent1 = station.scoringBatches();
  const meanBatch = (sent1.images - sent0.images) / Math.max(1, sent1.batches - sent0.batches);
  const errors = station.db.countInspections({ verdict: 'error' });
  await station.close();

  const burstRate = burstN / burstSeconds;
  const stageTotal = Object.values(stages).reduce((a, b) => a + b, 0);
  const result = {
    machine,
    backend: 'wasm (tfjs) for loading; scoring engine below',
    engine: choice.engine.description,
    engineReason: choice.reason,
    model: `${method} (${loaded.meta.input.mode === 'native' ? `judged at ${samples[0].width}x${samples[0].height}` : `${size}x${size}`}x${channels}), camera images ${camW}x${camH}x${channels} PNG`,
    bareModelBatch1ImagesPerSecond: median(bare1),
    bareModelBatch1Spread: [Math.min(...bare1), Math.max(...bare1)],
    bareModelImagesPerSecond: bareRate,
    bareModelBatch: BURST_BATCH,
    bareModelSpread: [Math.min(...bare), Math.max(...bare)],
    steady: {
      images: steadyN,
      rate,
      seconds: steadySeconds,
      p50Ms: median(steadyLat),
      p95Ms: pct(steadyLat, 0.95),
      maxMs: Math.max(...steadyLat),
    },
    burst: {
      images: burstN,
      seconds: burstSeconds,
      imagesPerSecond: burstRate,
      p50Ms: median(latency),
      p95Ms: pct(latency, 0.95),
      rssBeforeMB: baseRss / 2 ** 20,
      peakRssMB: peakRss / 2 ** 20,
      meanScoringBatch: meanBatch,
      errors,
      overheadVsBareModel: 1 - burstRate / bareRate,
      stageShare: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, v / stageTotal])),
    },
  };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'station.json'), JSON.stringify(result, null, 2));
  const md = `# Station benchmark

${result.machine}; engine: ${result.engine} (${result.engineReason}); ${result.model}.
Command: \`npm run bench:station -- --method ${method} --size ${size} --channels ${channels} --camera ${camW}x${camH} --rate ${rate} --steady ${steadyN} --burst ${burstN} --engine ${engine}\`

| measure | value |
|---|---|
| bare model scoring (score + map${feature ? '' : ' + reconstruction'}) at batch 1, median of 5 (min-max) | ${result.bareModelBatch1ImagesPerSecond.toFixed(1)} img/s (${result.bareModelBatch1Spread.map((v) => v.toFixed(1)).join('-')}) |
| bare model scoring at batch ${BURST_BATCH} (the station's burst batch) | ${bareRate.toFixed(1)} img/s (${result.bareModelSpread.map((v) => v.toFixed(1)).join('-')}) |
| steady ${rate}/s, ${steadyN} images: latency p50 / p95 / max (file renamed in -> row committed) | ${result.steady.p50Ms.toFixed(0)} / ${result.steady.p95Ms.toFixed(0)} / ${result.steady.maxMs.toFixed(0)} ms |
| burst of ${burstN}: end-to-end throughput | ${burstRate.toFixed(1)} img/s |
| burst: throughput lost to the pipeline vs the bare model at batch ${BURST_BATCH} | ${(result.burst.overheadVsBareModel * 100).toFixed(1)}% |
| burst: mean batch the scoring worker got | ${result.burst.meanScoringBatch.toFixed(1)} |
| burst: latency p50 / p95 (queueing included) | ${(result.burst.p50Ms / 1000).toFixed(1)} / ${(result.burst.p95Ms / 1000).toFixed(1)} s |
| burst: RSS of the station process before / peak during the burst | ${result.burst.rssBeforeMB.toFixed(0)} / ${result.burst.peakRssMB.toFixed(0)} MB |
| burst: share of stage time read / decode / score / write PNGs | ${['read', 'decode', 'score', 'write'].map((k) => `${((result.burst.stageShare[k] ?? 0) * 100).toFixed(0)}%`).join(' / ')} |

The steady latency includes the watcher's write-settle window (100 ms here: a file must stop growing before it
is read). Stage shares are summed over concurrent inspections (they overlap), so they say where the time goes,
not wall-clock.
`;
  writeFileSync(join(values.out, 'station.md'), md);
  console.log(md);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
