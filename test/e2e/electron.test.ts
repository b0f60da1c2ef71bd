// The real Electron app, end to end, through Playwright's Electron driver: only where the Electron binary
// exists (a user's or developer's machine). The build machines cannot download it, so here this is skipped
// and says why; the shell's logic is covered in Node by test/main/electron/.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { _electron as electron } from 'playwright-core';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures';

const ROOT = resolve(import.meta.dirname, '../..');
const pathTxt = join(ROOT, 'node_modules', 'electron', 'path.txt');
const binary = existsSync(pathTxt)
  ? join(ROOT, 'node_modules', 'electron', 'dist', readFileSync(pathTxt, 'utf8').trim())
  : undefined;
const haveElectron = !!binary && existsSync(binary);
const missing =
  'the Electron binary is not installed: npm install downloads it from GitHub where that is reachable (not from the build machines); `npm run postinstall` tries again';
if (!haveElectron) console.warn(`Electron smoke test skipped: ${missing}`);

const t = tempDir('station-electron-');
afterAll(() => t.cleanup());

describe('the Electron app', () => {
  // Without the binary the test is skipped with the reason (vitest counts it in its summary).
  beforeEach(({ skip }) => skip(!haveElectron, missing));

  it('opens the secure window with exactly the StationApi on window.station', async () => {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    const app = await electron.launch({
      executablePath: binary,
      args: [ROOT],
      env: { ...process.env, STATION_DATA_DIR: t.dir, STATION_DEMO: '0', STATION_BACKEND: 'wasm' },
    });
    try {
      const page = await app.firstWindow();
      await page.locator('nav').waitFor();
      expect(await page.title()).toBe('Anomaly Station');
      const seen = await page.evaluate(async () => {
        const w = (globalThis as unknown as { window: unknown }).window as {
          station: Record<string, unknown>;
          require?: unknown;
          process?: unknown;
        };
        const info = await (w.station.getInfo as (r: object) => Promise<{ shell: string; dataDir: string }>)(
          {},
        );
        const image = await fetch('station://image/1/original').then((r) => r.status);
        return {
          keys: Object.keys(w.station).sort(),
          info,
          node: typeof w.require + typeof w.process,
          image,
        };
      });
      expect(seen.info.shell).toBe('electron');
      expect(seen.info.dataDir).toBe(t.dir);
      expect(seen.keys).toContain('decide');
      expect(seen.node).toBe('undefinedundefined'); // no Node in the page
      expect(seen.image).toBe(404); // no inspection 1 in an empty station
    } finally {
      await app.close();
    }
  }, 120_000);
});
