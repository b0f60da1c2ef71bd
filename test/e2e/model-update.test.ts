// Updating a model from operators' feedback in the UI, in a real browser (see ./chromium.ts) against the real
// station over HTTP + WebSocket and a real PatchCore: History's false alarms of a line lead to the model's
// "Update from feedback" tab, which shows what the update learns from (and the image two operators disagree
// on), makes the child with live progress, shows parent and child side by side, activates the child and undoes
// it; the child's lineage reads back to its parent. Screenshots in test-artifacts/e2e/ (look at them). The
// renderer is built into this test's own temp folder.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StationApi } from '../../src/common/api';
import { serveHttp, type RunningServer } from '../../src/main/station/http-server';
import { validated } from '../../src/main/station/in-process';
import { Station } from '../../src/main/station/station';
import { tempDir } from '../helpers/fixtures';
import { dropTextured, trainTinyPatchcore, waitFor } from '../helpers/station-fixtures';
import { CHROMIUM_ARGS, findChromium } from './chromium';

const ROOT = resolve(import.meta.dirname, '../..');
const SHOTS = join(ROOT, 'test-artifacts', 'e2e');
const chrome = await findChromium();
if (!chrome.found) console.warn(`model update e2e skipped: ${chrome.reason}`);

const t = tempDir('station-e2e-update-');
let station: Station;
let api: StationApi;
let server: RunningServer;
let browser: Browser;
let page: Page;
let lineId: number;
let parentId: number;
const pageErrors: string[] = [];

describe('updating a model from feedback in the Models view (Chromium)', () => {
  beforeEach(({ skip }) => skip(!chrome.found, chrome.found ? undefined : chrome.reason));

  beforeAll(async () => {
    if (!chrome.found) return;
    mkdirSync(SHOTS, { recursive: true });
    const out = join(t.dir, 'out');
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build', '--outDir', out],
      { cwd: ROOT, stdio: 'pipe' },
    );
    const modelDir = await trainTinyPatchcore(t.dir);
    const cam = join(t.dir, 'camera');
    mkdirSync(cam);
    station = await Station.open({
      dataDir: join(t.dir, 'data'),
      backend: 'wasm',
      settleMs: 150,
      shell: 'browser',
    });
    api = validated(station);
    parentId = (await api.registerModel({ folder: modelDir })).id;
    lineId = (await api.addLine({ name: 'Press 4', folder: cam, modelId: parentId })).id;
    // A drifted lot (a new tool: the stripes' pitch doubled) and some real defects.
    for (let i = 0; i < 24; i++)
      await dropTextured(cam, `lot2-${String(i).padStart(2, '0')}.png`, { seed: 5000 + i, pitch: 6 });
    for (let i = 0; i < 4; i++)
      await dropTextured(cam, `defect-${i}.png`, {
        seed: 8000 + i,
        pitch: 3 + 3 * (i % 2),
        defect: i % 2 ? 'scratch' : 'spot',
      });
    await waitFor(
      'every part scored',
      async () => (await api.queryInspections({ lineId, limit: 100 })).total >= 28,
      120_000,
    );
    await station.idle();
    // Operators review: the lot is cleared, the defects confirmed; Bob disagrees with Ann on one part.
    await api.signIn({ name: 'Bob' });
    const flagged = (await api.queryInspections({ lineId, verdict: 'flag', limit: 100 })).rows;
    const argued = flagged.find((r) => r.filePath.endsWith('lot2-00.png'))!;
    await api.decide({ inspectionId: argued.id, decision: 'defect' });
    await api.signIn({ name: 'Ann' });
    for (const r of flagged) {
      const d = r.filePath.includes('defect-') ? 'defect' : 'false_alarm';
      const last = (await api.getInspection({ id: r.id })).decisions.at(-1);
      await api.decide({ inspectionId: r.id, decision: d, correctsDecisionId: last?.id });
    }
    server = await serveHttp(validated(station), { port: 0, staticDir: join(out, 'renderer') });
    browser = await chromium.launch({ executablePath: chrome.executablePath, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.text().includes('[i18n] missing')) pageErrors.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await station?.close();
    t.cleanup();
  });

  it('goes from History to the update, makes the child, compares it, activates it and undoes', async () => {
    await page.goto(`${server.url}/#/history`);
    const filters = page.locator('[data-test=history-filters]');
    await filters.locator('select').first().selectOption({ label: 'Press 4' });
    await page.locator('[data-test=filter-review]').selectOption('false_alarm');
    await page.locator('[data-test=history-search]').click();
    await page.locator('[data-test=history-update-model]').click();

    // Models opens the line's model on its Update tab, with what an update would learn from.
    await page.waitForURL(/#\/models$/);
    const panel = page.locator('[data-test=update-panel]');
    const preview = panel.locator('[data-test=update-preview]');
    await preview.getByText(/false alarms to add, \d+ held out/).waitFor();
    expect(await panel.locator('.chip').textContent()).toMatch(/Period from History/);
    const disputed = preview.locator('[data-test=update-disputed]');
    expect(await disputed.textContent()).toMatch(/lot2-00\.png/);
    expect(await disputed.textContent()).toMatch(/Bob: confirmed defect.*Ann: false alarm/);
    expect(await preview.textContent()).toMatch(/checked on 4 confirmed defects of the line/);
    await page
      .locator('[data-test=model-detail]')
      .screenshot({ path: join(SHOTS, 'model-update-preview.png') });

    await preview.locator('[data-test=update-start]').click();
    const card = panel.locator('[data-test=update-card]').first();
    await card.locator('[data-test=update-progress]').waitFor();
    await card.and(page.locator('[data-state=ready]')).waitFor({ timeout: 120_000 });
    const table = card.locator('[data-test=update-comparison]');
    expect(await table.locator('thead').textContent()).toMatch(/Parent patchcore.*Child patchcore-u1/);
    // The child passes the cleared lot the parent flagged, and flags every confirmed defect as the parent does.
    const cells = async (row: string) =>
      (await table.locator(`[data-test=comparison-${row}] td`).allTextContents()).map((c) => c.trim());
    const [parentFa, childFa] = await cells('false-alarms');
    expect(parentFa).toMatch(/^0 \(0(\.0)?%\)$/);
    expect(Number(childFa.split(' ')[0])).toBeGreaterThanOrEqual(20);
    expect(await cells('defects')).toEqual(['4 (100.0%)', '4 (100.0%)']);
    expect(await table.locator('[data-test=comparison-false-alarms] td.better').count()).toBe(1);
    await card.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: join(SHOTS, 'model-update-comparison.png') });

    await card.locator('[data-test=update-activate]').click();
    await card.and(page.locator('[data-state=activated]')).waitFor();
    const child = (await api.listModels({})).find((m) => m.parentId === parentId)!;
    expect((await api.listLines({})).find((l) => l.id === lineId)!.modelId).toBe(child.id);
    await card.locator('[data-test=update-undo]').click();
    await waitFor('the parent back on the line', async () =>
      (await api.listLines({})).find((l) => l.id === lineId)!.modelId === parentId ? true : undefined,
    );

    // The child's own detail: its parent, generation and lineage.
    await page.locator('[data-test=model-row]', { hasText: 'patchcore-u1' }).click();
    const detail = page.locator('[data-test=model-detail]');
    await detail
      .locator('header .facts')
      .getByText(/child of patchcore · generation 2/)
      .waitFor();
    await detail.locator('[data-test=model-tab-update]').click();
    const lineage = detail.locator('[data-test=lineage]');
    await lineage.locator('[data-test=lineage-step]').waitFor();
    expect(await lineage.textContent()).toMatch(
      /patchcore-u1 \(generation 2\) = patchcore \(generation 1\) \+ \d+ false alarms reviewed by Ann/,
    );
    expect(await lineage.textContent()).toMatch(/activated on Press 4 by Ann/);
    expect(await lineage.textContent()).toMatch(/Lineage record verified \(3 records in the chain\)/);
    await detail.screenshot({ path: join(SHOTS, 'model-update-lineage.png') });

    // The Reports view's models in force say what the child is made of (the default period is today).
    await page.goto(`${server.url}/#/reports`);
    await page.locator('[data-test=report-preview]').click();
    const childRow = page.locator('[data-test=report-model]', { hasText: 'patchcore-u1' });
    expect(await childRow.locator('[data-test=report-model-lineage]').textContent()).toMatch(
      /child of patchcore · generation 2 · \d+ false alarms to add, \d+ held out/,
    );
    expect(pageErrors).toEqual([]);
  }, 240_000);

  it('shows a flagged part in Review beside the most similar good training part (PatchCore has no reconstruction)', async () => {
    const cam = (await api.listLines({})).find((l) => l.id === lineId)!.folder;
    await dropTextured(cam, 'defect-review.png', { seed: 8100, pitch: 3, defect: 'scratch' });
    await waitFor('the new part flagged', async () => {
      const rows = (await api.queryInspections({ lineId, verdict: 'flag', limit: 100 })).rows;
      return rows.some((r) => r.filePath.endsWith('defect-review.png')) ? true : undefined;
    });
    await station.idle();
    await page.goto(`${server.url}/#/review`);
    await page.locator('[data-test=review-heatmap]').waitFor();
    // The third pane: a training image, not a reconstruction, said so in its caption and alt text.
    const reference = page.locator('[data-test=review-reference]');
    await reference.waitFor();
    expect(await reference.getAttribute('alt')).toBe('the most similar good training part');
    // The image has loaded (its natural size is known) and has the line's parts' shape.
    let size: number[] = [0, 0];
    await waitFor('the reference image loaded', async () => {
      size = await reference.evaluate((img) => {
        const el = img as unknown as { naturalWidth: number; naturalHeight: number };
        return [el.naturalWidth, el.naturalHeight];
      });
      return size[0] > 0 ? true : undefined;
    });
    // A good part of the line's own shape (the training parts are 200 x 150).
    expect(size[0] * 150).toBe(size[1] * 200);
    expect(await page.getByText('Most similar good part (from the training images)').count()).toBe(1);
    // A feature model's colour scale runs from the good parts to the calibrated threshold.
    expect(await page.locator('.legend').textContent()).toMatch(
      /like the good parts.*at the threshold and above/,
    );
    await page.screenshot({ path: join(SHOTS, 'review-patchcore-nearest-good.png') });
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
