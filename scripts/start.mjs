// `npm start`: build the app (electron-vite, ~2 s), then open the station.
//  - Where Electron's binary was installed: the desktop window (Electron + the Vue UI over IPC); on a fresh
//    install the demo line starts in it.
//  - Otherwise (or with `npm start -- --browser`): the same station served over HTTP + WebSocket on
//    http://127.0.0.1:5317 (`station start`): open that address in a browser. The demo model (trained once on
//    the bundled DeepPCB sample) judges a demo line fed by a demo camera.
// It says which shell it runs; the station says which ML backend and scoring engine.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const forceBrowser = args.includes('--browser');
const rest = args.filter((a) => a !== '--browser');
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const station = (argv) =>
  spawnSync(tsx, [path.join(root, 'src', 'main', 'cli', 'index.ts'), ...argv], {
    stdio: 'inherit',
    cwd: root,
  });

if (args.includes('--help') || args.includes('-h')) {
  console.log(
    'npm start [-- --browser] [-- OPTIONS]: the desktop window where Electron is installed, else (or with\n' +
      "--browser) the station and its UI served on http://127.0.0.1:5317. OPTIONS are `station start`'s:\n",
  );
  process.exit(station(['start', '--help']).status ?? 1);
}

const build = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'],
  {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
if (build.status !== 0) {
  console.error('npm start: the build failed (see above); run `npm run build` to see why');
  process.exit(build.status ?? 1);
}

const electronDir = path.join(root, 'node_modules', 'electron');
let electronBin = null;
let why = 'package not installed';
if (existsSync(path.join(electronDir, 'path.txt'))) {
  const bin = path.join(electronDir, 'dist', readFileSync(path.join(electronDir, 'path.txt'), 'utf8').trim());
  if (existsSync(bin)) electronBin = bin;
  else why = 'binary missing (its download failed at install)';
} else if (existsSync(electronDir)) {
  why = 'binary missing (its download is skipped or failed at install)';
}

if (electronBin && !forceBrowser) {
  console.log(`npm start: shell: electron (${electronBin})`);
  const r = spawnSync(electronBin, [root, ...rest], { stdio: 'inherit', cwd: root });
  process.exit(r.status ?? 1);
}

console.log(
  `npm start: shell: browser — the station over HTTP + WebSocket (${forceBrowser ? '--browser' : `Electron ${why}`})`,
);
process.exit(station(['start', ...rest]).status ?? 1);
