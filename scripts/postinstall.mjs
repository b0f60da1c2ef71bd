// Runs after `npm install` / `npm ci` (plain Node ESM; works on Node 20 and 24).
//
// npm 11 does not run dependency install scripts unless package.json "allowScripts" allows them, and
// ours deny electron, @tensorflow/tfjs-node and @tensorflow/tfjs-node-gpu: their scripts download large
// binaries and fail the whole install when the network is restricted. This script does those
// downloads itself instead, each under a time limit, and never fails the install (always exit 0).
// Every part prints one line: got it / skipped / failed, with what you lose without it.
//
//   STATION_SKIP_DOWNLOADS=1 or CI=...   skip all downloads
//   STATION_DOWNLOAD_TIMEOUT_S=120       time limit per download (seconds)
//
// Full output of each attempt goes to node_modules/.station-postinstall/<part>.log.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodeModules = path.join(root, 'node_modules');
const logDir = path.join(nodeModules, '.station-postinstall');
const timeoutSeconds = Number(process.env.STATION_DOWNLOAD_TIMEOUT_S) || 120;

const LOSS = {
  electron: 'without it `npm start` uses the browser/CLI fallback',
  tfjsNode: 'without it training and scoring run on the wasm backend (slower)',
  tfjsNodeGpu: 'without it training and scoring run on the CPU (tfjs-node if present, else wasm)',
  ortCuda: 'without it ONNX Runtime scores on the CPU (its CPU binaries ship inside the npm package)',
};

function report(part, status, detail) {
  console.log(`[postinstall] ${part}: ${status}${detail ? ` (${detail})` : ''}`);
}

function envFlag(name) {
  const value = process.env[name];
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

function packageDir(name) {
  const dir = path.join(nodeModules, ...name.split('/'));
  return existsSync(path.join(dir, 'package.json')) ? dir : null;
}

function readText(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The first line that looks like an error, else the last non-empty line; one line, shortened. */
function oneLineReason(output) {
  const lines = output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const line =
    lines.find((l) =>
      /\b(ENOTFOUND|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|status code \d+)\b/.test(l),
    ) ??
    lines.find((l) => /^(\w*Error\b|error\b|Error:)/i.test(l)) ??
    lines.at(-1) ??
    'no output';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/**
 * Runs `node <args>` in cwd with a time limit; kills the whole process group on timeout.
 * Resolves { ok, reason } and writes the combined output to the part's log file.
 */
function runNode(part, args, cwd) {
  const binDirs = [path.join(cwd, 'node_modules', '.bin'), path.join(nodeModules, '.bin')];
  // Child scripts that spawn `node` or `node-pre-gyp` by name must find the same node and local bins.
  const env = {
    ...process.env,
    PATH: [path.dirname(process.execPath), ...binDirs, process.env.PATH ?? ''].join(path.delimiter),
  };
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let done = false;
    let child;
    try {
      child = spawn(process.execPath, args, {
        cwd,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: process.platform !== 'win32',
      });
    } catch (error) {
      resolve({ ok: false, reason: `could not start node: ${error.message}` });
      return;
    }
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (process.platform === 'win32') child.kill('SIGKILL');
        else process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      // Normally 'close' follows at once; do not wait forever on a grandchild that kept the pipes.
      setTimeout(
        () => finish({ ok: false, reason: `no result within ${timeoutSeconds} s, stopped` }),
        5000,
      ).unref();
    }, timeoutSeconds * 1000);
    const finish = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        mkdirSync(logDir, { recursive: true });
        writeFileSync(path.join(logDir, `${part}.log`), `$ node ${args.join(' ')}  (cwd ${cwd})\n${output}`);
      } catch {
        // logging is best effort
      }
      resolve(result);
    };
    child.on('error', (error) => finish({ ok: false, reason: error.message }));
    child.on('close', (code, signal) => {
      if (timedOut) finish({ ok: false, reason: `no result within ${timeoutSeconds} s, stopped` });
      else if (code === 0) finish({ ok: true });
      else finish({ ok: false, reason: `${oneLineReason(output)} [exit ${code ?? signal}]` });
    });
  });
}

// --- Electron binary -------------------------------------------------------------------------------

function electronBinary(dir) {
  const rel = readText(path.join(dir, 'path.txt'));
  const bin = rel && path.join(dir, 'dist', rel.trim());
  return bin && existsSync(bin) ? bin : null;
}

async function electron(skipReason) {
  const part = 'electron';
  const dir = packageDir('electron');
  if (!dir) return report(part, 'skipped', 'electron package not installed');
  if (electronBinary(dir)) return report(part, 'got it', 'binary already present');
  if (skipReason) return report(part, 'skipped', `${skipReason}; ${LOSS.electron}`);
  const result = await runNode(part, ['install.js'], dir);
  if (result.ok && electronBinary(dir)) return report(part, 'got it', 'downloaded the Electron binary');
  report(part, 'failed', `${result.reason ?? 'binary still missing'}; ${LOSS.electron}`);
}

// --- libtensorflow bindings for tfjs-node / tfjs-node-gpu -----------------------------------------

function tfjsBinding(dir) {
  const lib = path.join(dir, 'lib');
  if (!existsSync(lib)) return null;
  for (const entry of readdirSync(lib)) {
    const file = path.join(lib, entry, 'tfjs_binding.node');
    if (entry.startsWith('napi-v') && existsSync(file)) return file;
  }
  return null;
}

function nvidiaGpu() {
  const probe = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 15_000 });
  if (probe.error?.code === 'ENOENT') return { ok: false, reason: 'nvidia-smi not found' };
  if (probe.error || probe.status !== 0) return { ok: false, reason: 'nvidia-smi found but reports no GPU' };
  return { ok: true };
}

async function tfjs(pkg, part, args, loss, skipReason) {
  const dir = packageDir(pkg);
  if (!dir) return report(part, 'skipped', `${pkg} not installed (optional dependency); ${loss}`);
  if (tfjsBinding(dir)) return report(part, 'got it', 'native binding already present');
  if (skipReason) return report(part, 'skipped', `${skipReason}; ${loss}`);
  // scripts/install.js rewrites the package's package.json while it builds and only restores it on
  // success; keep the original so a failed or stopped attempt leaves the package as npm installed it.
  const manifest = path.join(dir, 'package.json');
  const original = readText(manifest);
  const depsDir = path.join(dir, 'deps');
  const hadDeps = existsSync(depsDir);
  const result = await runNode(part, args, dir);
  const binding = tfjsBinding(dir);
  if (!binding) {
    if (original !== null && readText(manifest) !== original) writeFileSync(manifest, original);
    if (!hadDeps) rmSync(depsDir, { recursive: true, force: true });
  }
  if (result.ok && binding) return report(part, 'got it', 'downloaded libtensorflow and the binding');
  report(part, 'failed', `${result.reason ?? 'binding still missing'}; ${loss}`);
}

// --- ONNX Runtime's optional CUDA provider -------------------------------------------------------
// onnxruntime-node ships its CPU binaries inside the npm package; its own install script only fetches the
// CUDA execution provider (from outside npm), which is worth trying only where an NVIDIA GPU exists.

async function ortCuda(skipReason) {
  const part = 'onnxruntime-cuda';
  const dir = packageDir('onnxruntime-node');
  if (!dir) return report(part, 'skipped', 'onnxruntime-node not installed');
  if (skipReason) return report(part, 'skipped', `${skipReason}; ${LOSS.ortCuda}`);
  const result = await runNode(part, ['script/install.js'], dir);
  if (result.ok) return report(part, 'got it', 'CUDA provider installed (used when CUDA 12 is present)');
  report(part, 'failed', `${result.reason}; ${LOSS.ortCuda}`);
}

async function main() {
  const skip = envFlag('STATION_SKIP_DOWNLOADS')
    ? 'STATION_SKIP_DOWNLOADS is set'
    : envFlag('CI')
      ? 'CI is set'
      : null;

  await electron(skip);
  // Same commands as the packages' own "install" scripts, run in the package directory.
  await tfjs('@tensorflow/tfjs-node', 'tfjs-node', ['scripts/install.js'], LOSS.tfjsNode, skip);
  const gpu = skip ? { ok: true } : nvidiaGpu();
  await tfjs(
    '@tensorflow/tfjs-node-gpu',
    'tfjs-node-gpu',
    ['scripts/install.js', 'gpu', 'download'],
    LOSS.tfjsNodeGpu,
    skip ?? (gpu.ok ? null : gpu.reason),
  );
  await ortCuda(skip ?? (gpu.ok ? null : gpu.reason));
}

try {
  await main();
} catch (error) {
  console.log(`[postinstall] unexpected error, ignored: ${error instanceof Error ? error.message : error}`);
}
process.exit(0);
