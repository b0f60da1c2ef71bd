// The plant outputs in the Lines view, in a real browser (see ./chromium.ts) against the real station over
// HTTP + WebSocket and a real mosquitto: configure a line's MQTT output from the form, watch its state and
// backlog follow the broker (connected, sent; broker stopped: disconnected, backlog grows; back: drained),
// the stored password never comes back to the page, and the OPC UA server's form and certificate. The
// renderer is built into this test's own temp folder (ui.test.ts builds out/ at the same time).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { serveHttp, type RunningServer } from '../../src/main/station/http-server';
import { validated } from '../../src/main/station/in-process';
import { Station } from '../../src/main/station/station';
import { tempDir } from '../helpers/fixtures';
import { findMosquitto, freePort, startMosquitto, subscriber, type Broker } from '../helpers/mosquitto';
import { dropPart, trainTinyModel } from '../helpers/station-fixtures';
import { CHROMIUM_ARGS, findChromium } from './chromium';

const ROOT = resolve(import.meta.dirname, '../..');
const SHOTS = join(ROOT, 'test-artifacts', 'e2e');
const chrome = await findChromium();
const mosquitto = findMosquitto();
const missing = !chrome.found
  ? chrome.reason
  : !mosquitto
    ? 'mosquitto is not installed (apt install mosquitto)'
    : null;
if (missing) console.warn(`outputs e2e skipped: ${missing}`);

const t = tempDir('station-e2e-outputs-');
let station: Station;
let server: RunningServer;
let broker: Broker;
let browser: Browser;
let page: Page;
let cam: string;
const pageErrors: string[] = [];
const PASSWORD = 'ui-secret-pw-7';

describe('plant outputs in the Lines view (Chromium, mosquitto)', () => {
  beforeEach(({ skip }) => skip(missing !== null, missing ?? undefined));

  beforeAll(async () => {
    if (missing || !chrome.found) return;
    mkdirSync(SHOTS, { recursive: true });
    const out = join(t.dir, 'out');
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build', '--outDir', out],
      { cwd: ROOT, stdio: 'pipe' },
    );
    broker = await startMosquitto(join(t.dir, 'broker'), { users: { station: PASSWORD, reader: 'r' } });
    const modelDir = await trainTinyModel(t.dir);
    cam = join(t.dir, 'camera');
    mkdirSync(cam);
    station = await Station.open({
      dataDir: join(t.dir, 'data'),
      backend: 'wasm',
      settleMs: 150,
      shell: 'browser',
    });
    const model = await station.registerModel({ folder: modelDir });
    await station.addLine({ name: 'Line 1', folder: cam, modelId: model.id });
    server = await serveHttp(validated(station), { port: 0, staticDir: join(out, 'renderer') });
    browser = await chromium.launch({ executablePath: chrome.executablePath, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await station?.close();
    await broker?.stop();
    t.cleanup();
  });

  const row = () => page.locator('[data-test=output-row]').first();
  const state = () => row().locator('[data-test=output-state]');
  const backlog = () => row().locator('[data-test=output-backlog]');

  it('configures a line’s MQTT output and shows its state and backlog as the broker comes and goes', async () => {
    const sub = await subscriber(broker.url, ['e2e/#'], { username: 'reader', password: 'r' });
    await page.goto(`${server.url}/#/lines`);
    await page.locator('[data-test=outputs-panel]').getByText('No outputs').waitFor();
    await page.locator('[data-test=add-mqtt]').click();
    const form = page.locator('[data-test=mqtt-form]');
    await form.locator('[data-test=mqtt-url]').fill(broker.url);
    await form.locator('[data-test=mqtt-topic]').fill('e2e');
    await form.getByLabel('User name').fill('station');
    await form.locator('[data-test=mqtt-password]').fill(PASSWORD);
    await form.locator('[data-test=mqtt-save]').click();
    await state()
      .filter({ hasText: /^connected to mqtt:/ })
      .waitFor({ timeout: 30_000 });

    for (let i = 0; i < 3; i++) await dropPart(cam, `part-${i}.png`, 700 + i, i === 2);
    await row().locator('td').nth(5).filter({ hasText: /^3$/ }).waitFor({ timeout: 60_000 });
    expect(await backlog().textContent()).toBe('0');
    expect(sub.messages.filter((m) => m.topic === 'e2e/Line 1/inspection')).toHaveLength(3);
    await page
      .locator('[data-test=outputs-panel]')
      .screenshot({ path: join(SHOTS, 'outputs-connected.png') });

    // The broker goes away: the row says so and the backlog counts what waits.
    await broker.stop();
    await state()
      .filter({ hasText: /cannot reach|lost/ })
      .waitFor({ timeout: 30_000 });
    for (let i = 3; i < 6; i++) await dropPart(cam, `part-${i}.png`, 700 + i);
    await backlog().filter({ hasText: /^3$/ }).waitFor({ timeout: 60_000 });
    await page.screenshot({ path: join(SHOTS, 'outputs-broker-down.png'), fullPage: true });
    await broker.start();
    await backlog().filter({ hasText: /^0$/ }).waitFor({ timeout: 60_000 });
    await state()
      .filter({ hasText: /^connected/ })
      .waitFor();

    // Editing shows that a password is stored, never the password; it is nowhere in the page.
    await row().getByRole('button', { name: 'Edit' }).click();
    const pw = page.locator('[data-test=mqtt-password]');
    expect(await pw.inputValue()).toBe('');
    expect(await pw.getAttribute('placeholder')).toMatch(/stored/);
    expect(await page.content()).not.toContain(PASSWORD);
    await page.reload();
    await state().waitFor();
    expect(await page.content()).not.toContain(PASSWORD);
    await sub.close();
  }, 180_000);

  it('starts the OPC UA server from its form and shows its endpoint and certificate', async () => {
    const port = await freePort();
    await page.locator('[data-test=edit-opcua]').click();
    const form = page.locator('[data-test=opcua-form]');
    await form.locator('[data-test=opcua-port]').fill(String(port));
    await form.locator('[data-test=opcua-user]').fill('plc');
    await form.locator('[data-test=opcua-password]').fill('plc-pw-12345');
    await form.locator('[data-test=opcua-save]').click();
    const opcuaRow = page.locator('[data-test=output-row]').filter({ hasText: 'OPC UA' });
    await opcuaRow
      .locator('[data-test=output-state]')
      .filter({
        hasText: new RegExp(`listening on opc\\.tcp://127\\.0\\.0\\.1:${port} \\(Sign&Encrypt; user plc\\)`),
      })
      .waitFor({ timeout: 60_000 });
    await page
      .locator('[data-test=opcua-certs] code')
      .first()
      .filter({ hasText: /^[0-9a-f]{40}$/ })
      .waitFor();
    await page.screenshot({ path: join(SHOTS, 'outputs-lines-view.png'), fullPage: true });
    expect(await page.content()).not.toContain('plc-pw-12345');
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
