// `npm start`: the live station. The desktop window (Electron + the Vue UI) arrives with the UI issue; until
// then, and wherever the Electron binary is missing, this runs the station served over HTTP + WebSocket on
// 127.0.0.1 (`station start`): the demo model (trained once on the bundled DeepPCB sample) judges a demo line
// fed by a demo camera. It says which shell it runs; the station says which ML backend and scoring engine.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const electronDir = path.join(root, 'node_modules', 'electron');
let electron = 'not installed';
if (existsSync(path.join(electronDir, 'path.txt'))) {
  const bin = path.join(electronDir, 'dist', readFileSync(path.join(electronDir, 'path.txt'), 'utf8').trim());
  electron = existsSync(bin)
    ? `present (${bin}); the desktop window arrives with the UI issue`
    : 'package present, binary missing (download failed at install)';
} else if (existsSync(electronDir)) {
  electron = 'package present, binary missing (its download is skipped or failed at install)';
}
console.log(`npm start: Electron ${electron}; shell: browser/CLI (the station over HTTP + WebSocket)`);
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const r = spawnSync(
  tsx,
  [path.join(root, 'src', 'main', 'cli', 'index.ts'), 'start', ...process.argv.slice(2)],
  { stdio: 'inherit', cwd: root },
);
process.exit(r.status ?? 1);
