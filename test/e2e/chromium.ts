// Which Chromium the end-to-end tests drive. In order: CHROMIUM_PATH; Debian's /usr/bin/chromium (`apt install
// chromium`, what CI installs); else the headless Chromium inside the npm package @sparticuz/chromium (a
// devDependency, so a plain `npm install` brings it; Linux x64 only). Where none can be had, the tests are
// skipped with the reason and the command that installs one.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '../..');

export type ChromiumChoice =
  { found: true; executablePath: string; from: string } | { found: false; reason: string };

/**
 * Flags for a headless run as root on a machine without network: no sandbox (root), and none of Chromium's
 * background connections (refused here, many at a time).
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<ChromiumChoice> {
  const wanted = env['CHROMIUM_PATH'] || DEBIAN_CHROMIUM;
  const named = env['CHROMIUM_PATH'] ? 'CHROMIUM_PATH' : "Debian's chromium package";
  if (existsSync(wanted)) return { found: true, executablePath: wanted, from: `${wanted} (${named})` };
  const none = `no Chromium at ${wanted} (${named})`;
  const install =
    'set CHROMIUM_PATH to a Chromium or Chrome binary, or on Debian/Ubuntu `apt install chromium`';
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return {
      found: false,
      reason: `${none}, and the npm fallback @sparticuz/chromium runs on Linux x64 only: ${install}`,
    };
  try {
    const { version, executablePath } = unpackNpmChromium();
    return {
      found: true,
      executablePath,
      from: `@sparticuz/chromium ${version} from npm, as there is ${none}`,
    };
  } catch (e) {
    return {
      found: false,
      reason: `${none}, and @sparticuz/chromium could not be unpacked (${(e as Error).message.split('\n')[0]}): run \`npm install\` (it is a devDependency), or ${install}`,
    };
  }
}

/**
 * Unpacks @sparticuz/chromium's browser once per version into node_modules/.cache (about 4 s). The package
 * unpacks into the temp folder, and a second process finds a half-written binary there as if it were
 * complete; so it unpacks in a child process whose temp folder is a fresh one, renamed into place whole.
 */
function unpackNpmChromium(): { version: string; executablePath: string } {
  const pkgDir = dirname(dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')));
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const cache = join(ROOT, 'node_modules', '.cache', 'sparticuz-chromium');
  const dir = join(cache, version);
  const executablePath = join(dir, 'chromium');
  if (existsSync(executablePath)) return { version, executablePath };
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(cache, `${version}.unpacking-`));
  try {
    const unpacked = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const { default: c } = await import('@sparticuz/chromium'); console.log(await c.executablePath());",
      ],
      { cwd: ROOT, env: { ...process.env, TMPDIR: work }, encoding: 'utf8' },
    ).trim();
    if (unpacked !== join(work, 'chromium')) throw new Error(`unpacked to ${unpacked}, not into ${work}`);
    try {
      renameSync(work, dir);
    } catch (e) {
      // Another test process got there first: use its copy.
      if (!existsSync(executablePath)) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { version, executablePath };
}
