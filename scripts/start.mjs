// `npm start`: what the project can do today. The desktop station (Electron UI, watched camera folders)
// arrives with later issues; until then this says which shell and ML backend it has and runs the CLI demo:
// train (once) and evaluate a GANomaly on the bundled DeepPCB sample, and write heatmaps.
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
    ? `present (${bin}); the station window arrives with the UI issue`
    : 'package present, binary missing (download failed at install)';
} else if (existsSync(electronDir)) {
  electron = 'package present, binary missing (its download is skipped or failed at install)';
}
console.log(`npm start: Electron ${electron}; running the CLI demo instead`);
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const r = spawnSync(
  tsx,
  [path.join(root, 'src', 'main', 'cli', 'index.ts'), 'demo', ...process.argv.slice(2)],
  { stdio: 'inherit', cwd: root },
);
process.exit(r.status ?? 1);
