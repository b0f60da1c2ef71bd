// The browser the end-to-end tests get (./chromium.ts), and above all its npm fallback: where no Chromium is
// at the path given, @sparticuz/chromium's is unpacked and really launched through playwright-core. CI has
// Debian's Chromium for the UI tests, so this is where CI runs the fallback that a fresh machine gets.
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, findChromium } from './chromium';

const MISSING = '/nonexistent/chromium';
const npmChromiumRuns = process.platform === 'linux' && process.arch === 'x64';

describe('the Chromium for the e2e tests', () => {
  it('is CHROMIUM_PATH where that file exists', async () => {
    expect(await findChromium({ CHROMIUM_PATH: process.execPath })).toEqual({
      found: true,
      executablePath: process.execPath,
      from: `${process.execPath} (CHROMIUM_PATH)`,
    });
  });

  it('falls back to @sparticuz/chromium from npm, which runs a page through playwright-core', async () => {
    const found = await findChromium({ CHROMIUM_PATH: MISSING });
    if (!npmChromiumRuns) {
      // Its browser is a Linux x64 build: elsewhere the tests say what is missing and how to install it.
      expect(found).toEqual({ found: false, reason: expect.stringContaining(`no Chromium at ${MISSING}`) });
      expect(found.found || found.reason).toMatch(/CHROMIUM_PATH.*apt install chromium/);
      return;
    }
    if (!found.found) throw new Error(found.reason);
    expect(found.from).toMatch(
      /^@sparticuz\/chromium \d+\.\d+\.\d+ from npm, as there is no Chromium at \/nonexistent\/chromium \(CHROMIUM_PATH\)$/,
    );
    expect(found.executablePath).toMatch(/node_modules\/\.cache\/sparticuz-chromium\/[\d.]+\/chromium$/);
    // Unpacked once: a second look finds the same binary.
    expect(await findChromium({ CHROMIUM_PATH: MISSING })).toEqual(found);

    const browser = await chromium.launch({ executablePath: found.executablePath, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 400, height: 200 } });
      await page.setContent(
        '<p id="name">Łukasz Олег</p><script>document.getElementById("name").dataset.ran = "yes"</script>',
      );
      expect(await page.locator('#name').getAttribute('data-ran')).toBe('yes');
      expect(await page.locator('#name').textContent()).toBe('Łukasz Олег');
      expect(browser.version()).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      // It draws: a screenshot of the text differs from one of an empty page.
      const drawn = await page.screenshot();
      await page.setContent('');
      expect(Buffer.compare(drawn, await page.screenshot())).not.toBe(0);
    } finally {
      await browser.close();
    }
  });
});
