// `station start` (what `npm start` runs without Electron): the live station with something real to look at.
// The demo model (trained once on the bundled DeepPCB sample) judges a "Demo line" whose camera folder is fed
// by a demo camera: every few seconds it drops the next test board (good or defective) into the folder,
// the way a line camera exports. The station is served over HTTP + WebSocket on loopback.
import { mkdirSync, readdirSync, copyFileSync, renameSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendStatus } from '../../ml';
import { mvtecTestSet } from '../io/datasets';
import { serveHttp } from '../station/http-server';
import { validated } from '../station/in-process';
import { Station } from '../station/station';
import { DEMO_DATA, ensureDemoModel } from './demo';
import { formatInspection } from './station-commands';

export async function cmdStart(argv: string[], backend: BackendStatus): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string', default: '.station' },
      port: { type: 'string', default: '5317' },
      every: { type: 'string', default: '3' },
      for: { type: 'string' },
      backend: { type: 'string' },
    },
  });
  const dataDir = resolve(values['data-dir']);
  const modelDir = await ensureDemoModel(backend, dataDir);
  const station = await Station.open({ dataDir, backend: backend.name, shell: 'browser' });
  const api = validated(station);
  const model = await api.registerModel({ folder: modelDir });
  // Beside the data dir, not in it: a line never watches the station's own folder.
  const camera = `${dataDir}-demo-camera`;
  mkdirSync(camera, { recursive: true });
  const lines = await api.listLines({});
  const line =
    lines.find((l) => l.folder === camera) ??
    (await api.addLine({ name: 'Demo line', folder: camera, modelId: model.id }));
  let server;
  try {
    server = await serveHttp(api, { port: Number(values.port), staticDir: resolve('out', 'renderer') });
  } catch (e) {
    console.error(`port ${values.port} is busy (${(e as Error).message}); serving on a free port instead`);
    server = await serveHttp(api, { port: 0, staticDir: resolve('out', 'renderer') });
  }
  console.log(`station: ${server.url}  (API at /api, events at /api/events; data dir ${dataDir})`);
  station.onEvent((e) => {
    if (e.type === 'inspection') console.log(formatInspection(e.inspection, line.name));
    else if (e.type === 'line-status')
      console.log(
        `[${e.line.name}: ${e.line.status}] ${e.line.statusText}${e.line.engine ? ` (engine: ${e.line.engine}; ${e.line.engineReason})` : ''}`,
      );
    else if (e.type === 'error') console.error(`error: ${e.message}`);
  });

  // The demo camera: the sample's test boards in a fixed interleaved order (good, defect, good, ...).
  const tests = await mvtecTestSet(DEMO_DATA);
  const good = tests.filter((t) => t.label === 0);
  const bad = tests.filter((t) => t.label === 1);
  const order = good.flatMap((g, i) => (bad[i] ? [g, bad[i]] : [g]));
  let n = readdirSync(camera).length;
  const staging = join(dataDir, 'demo-camera-staging'); // same file system as the camera: rename is atomic
  mkdirSync(staging, { recursive: true });
  const shoot = () => {
    const src = order[n % order.length];
    const name = `board-${String(n).padStart(5, '0')}-${basename(src.file, extname(src.file))}${extname(src.file)}`;
    copyFileSync(src.file, join(staging, name));
    renameSync(join(staging, name), join(camera, name)); // atomic, as a camera's export should be
    n += 1;
  };
  const timer = setInterval(shoot, Number(values.every) * 1000);
  console.log(`demo camera: a board every ${values.every} s into ${camera} (Ctrl-C stops)`);

  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
    if (values.for) setTimeout(r, Number(values.for) * 1000);
  });
  clearInterval(timer);
  await station.idle();
  await server.close();
  await station.close();
  return 0;
}
