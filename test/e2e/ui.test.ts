// End to end in a real browser: Chromium (Debian's, else the one in npm's @sparticuz/chromium; see
// ./chromium.ts) drives the built renderer through playwright-core,
// served with the real station over HTTP + WebSocket (the same StationApi the Electron preload carries).
// A real model, real camera folder, real SQLite. Screenshots of every view at 1366x768 and 1920x1080 are
// kept in test-artifacts/e2e/ to look at.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { serveHttp, type RunningServer } from '../../src/main/station/http-server';
import { validated } from '../../src/main/station/in-process';
import { Station } from '../../src/main/station/station';
import { tempDir, writeMvtecSet } from '../helpers/fixtures';
import { dropPart, trainTinyModel, waitFor } from '../helpers/station-fixtures';
import { CHROMIUM_ARGS, findChromium } from './chromium';

const ROOT = resolve(import.meta.dirname, '../..');
const SHOTS = join(ROOT, 'test-artifacts', 'e2e');
const chrome = await findChromium();
if (chrome.found) console.log(`e2e in Chromium: ${chrome.from}`);
else console.warn(`e2e skipped: ${chrome.reason}`);

const t = tempDir('station-e2e-');
let station: Station;
let server: RunningServer;
let browser: Browser;
let page: Page;
let cam: string;
let goodFolder: string;
const pageErrors: string[] = [];
/** vue-i18n's warnings and the UI's own "[i18n] missing message" lines: any of them fails the run. */
const i18nWarnings: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** Two frames: what a viewport change re-laid out (charts resize on a ResizeObserver) is drawn. */
const settled = () =>
  page.locator('body').evaluate(
    (body) =>
      new Promise<void>((done) => {
        const win = body.ownerDocument.defaultView!;
        win.requestAnimationFrame(() => win.requestAnimationFrame(() => done()));
      }),
  );

/** The view as it is now at 1366x768 (`name`.png) and at 1920x1080 (`name`-1920.png). */
async function shots(name: string): Promise<void> {
  await settled();
  await shot(name);
  await page.setViewportSize({ width: 1920, height: 1080 });
  await settled();
  await shot(`${name}-1920`);
  await page.setViewportSize({ width: 1366, height: 768 });
  await settled();
}

/** Where a line of wrapped text breaks: the character before each break (the text of `selector`). */
function lineEnds(selector: string): Promise<string[]> {
  return page.locator(selector).evaluate((el) => {
    const d = el.ownerDocument;
    const walker = d.createTreeWalker(el, 4 /* NodeFilter.SHOW_TEXT */);
    const chars: { ch: string; top: number }[] = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.textContent ?? '';
      for (let i = 0; i < text.length; i++) {
        const r = d.createRange();
        r.setStart(n, i);
        r.setEnd(n, i + 1);
        chars.push({ ch: text[i], top: r.getBoundingClientRect().top });
      }
    }
    const ends: string[] = [];
    for (let i = 1; i < chars.length; i++)
      if (chars[i].top > chars[i - 1].top + 2) ends.push(chars[i - 1].ch);
    return ends;
  });
}

/** Whether the element is wholly inside the viewport. */
function inView(selector: string): Promise<boolean> {
  return page.locator(selector).evaluate((el) => {
    const r = el.getBoundingClientRect();
    const win = el.ownerDocument.defaultView!;
    return r.top >= 0 && r.left >= 0 && r.bottom <= win.innerHeight && r.right <= win.innerWidth;
  });
}

async function view(id: string): Promise<void> {
  await page.goto(`${server.url}/#/${id}`);
  await page.locator(`nav a.active[data-view=${id}]`).waitFor();
}

/**
 * Text that does not fit its box at the current viewport: buttons, labels, headers, tabs and the like whose
 * content is wider (or, when they clip, taller) than they are, and a page wider than the window.
 */
function cutOff(): Promise<string[]> {
  return page.locator('body').evaluate((body) => {
    const d = body.ownerDocument;
    const win = d.defaultView!;
    const out: string[] = [];
    if (d.documentElement.scrollWidth > win.innerWidth)
      out.push(`page ${d.documentElement.scrollWidth}px wide in a ${win.innerWidth}px window`);
    const selector =
      'button, label, th, h2, h3, h4, nav a, dt, legend, summary, figcaption, small, .badge, .status, .state, .chip, .verdict';
    for (const el of d.querySelectorAll(selector)) {
      const st = win.getComputedStyle(el);
      // Inline boxes have no scroll size; hidden ones show nothing.
      if (st.display === 'inline' || st.display === 'none' || !el.getClientRects().length) continue;
      const clips = st.overflow !== 'visible';
      const wide = el.scrollWidth > el.clientWidth + 1;
      const tall = clips && el.scrollHeight > el.clientHeight + 1;
      if (wide || tall)
        out.push(
          `${el.tagName.toLowerCase()}${el.className ? `.${el.className}` : ''} "${el.textContent?.trim().slice(0, 60)}" ` +
            `${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`,
        );
    }
    return out;
  });
}

describe('the station UI in Chromium', () => {
  // Without a browser every test is skipped, each with the reason (vitest counts them in its summary).
  beforeEach(({ skip }) => skip(!chrome.found, chrome.found ? undefined : chrome.reason));

  beforeAll(async () => {
    if (!chrome.found) return;
    mkdirSync(SHOTS, { recursive: true });
    // The renderer as the app ships it (electron-vite build; ~2 s).
    execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    const modelDir = await trainTinyModel(t.dir);
    goodFolder = join(t.dir, 'tiny-good');
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
    server = await serveHttp(validated(station), { port: 0, staticDir: join(ROOT, 'out', 'renderer') });
    browser = await chromium.launch({ executablePath: chrome.executablePath, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    // CSP violations and script errors show up here; the UI must have none.
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    page.on('console', (m) => /\[i18n\]|intlify|vue-i18n/i.test(m.text()) && i18nWarnings.push(m.text()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('response', (r) => r.status() >= 400 && pageErrors.push(`HTTP ${r.status()} ${r.url()}`));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await station?.close();
    t.cleanup();
  });

  it('Live shows images as they arrive, by events', async () => {
    await view('live');
    await page.getByText('Waiting for the first image').waitFor();
    await shots('01-live-empty');
    for (let i = 0; i < 3; i++) await dropPart(cam, `good-${i}.png`, 9000 + i);
    await dropPart(cam, 'defect-a.png', 9100, true);
    await dropPart(cam, 'defect-b.png', 9101, true);
    await page.locator('[data-test=live-total]').filter({ hasText: /^5$/ }).waitFor({ timeout: 60_000 });
    const flagged = Number(await page.locator('[data-test=live-flagged]').textContent());
    const rows = (await station.queryInspections({ limit: 100 })).rows;
    expect(flagged).toBe(rows.filter((r) => r.verdict === 'flag').length);
    expect(flagged).toBeGreaterThanOrEqual(2);
    // The backlog drains back to 0 on screen too (line-status events), not only in the station.
    await page.locator('[data-test=live-backlog]').filter({ hasText: /^0$/ }).waitFor();
    // The latest image and its heatmap really load (not a broken image icon).
    await waitFor('the Live images', async () => {
      const loaded = await page
        .locator('.live img')
        .evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth));
      return loaded.length >= 2 && loaded.every((w) => w > 0);
    });
    // Zero errors look calm (not the error colour); flags that happened keep theirs.
    const errors = page.locator('[data-test=live-errors]');
    expect((await errors.textContent())?.trim()).toBe('0');
    const color = (l: typeof errors) =>
      l.evaluate((e) => e.ownerDocument.defaultView!.getComputedStyle(e).color);
    expect(await color(errors)).not.toBe('rgb(183, 121, 31)');
    expect(await color(page.locator('[data-test=live-flagged]'))).toBe('rgb(197, 48, 48)');
    // A page opened now shows the rate from the station's log: 5 images in the last 5 minutes = 1.0 a
    // minute, though this page saw none of them arrive.
    await page.reload();
    await page
      .locator('[data-test=live-rate]')
      .filter({ hasText: /^1\.0$/ })
      .waitFor();
    // One line uses the screen: big images, and the card reaches down most of the window.
    const img = await page.locator('.live figure img').first().boundingBox();
    const card = await page.locator('[data-test=live-line]').boundingBox();
    expect(img!.width).toBeGreaterThanOrEqual(0.3 * 1366);
    expect(card!.y + card!.height).toBeGreaterThanOrEqual(0.8 * 768);
    await shots('02-live');
  }, 90_000);

  it('Settings signs the operator in and says which backend and shell run', async () => {
    await view('settings');
    await page.locator('[data-test=signin-name]').fill('Ana Operator');
    await page.locator('[data-test=signin-badge]').fill('B-1042');
    await page.locator('[data-test=signin-submit]').click();
    await page.locator('[data-test=signed-in]').getByText('Ana Operator').waitFor();
    expect(await page.locator('[data-test=shell]').textContent()).toMatch(/browser/);
    expect(await page.locator('[data-test=backend]').textContent()).toMatch(/wasm/);
    await shots('03-settings');
  });

  it('Review: a flagged image with its heatmap; confirm one and reject one by keyboard', async () => {
    await view('review');
    const queue = await station.reviewQueue({ limit: 100 });
    expect(queue.length).toBeGreaterThanOrEqual(2);
    await page.locator('[data-test=review-position]').getByText(`1 of ${queue.length}`).waitFor();
    // The heatmap image has really loaded (locator.evaluate runs as a function call, which the page's CSP
    // allows; a string predicate would need eval).
    const heatmap = page.locator('[data-test=review-heatmap]');
    await waitFor('the heatmap image', () =>
      heatmap.evaluate((i) => {
        const img = i as unknown as { complete: boolean; naturalWidth: number };
        return img.complete && img.naturalWidth > 0;
      }),
    );
    // The model by name, as Live and Lines show it; its version in the tooltip.
    const model = page.locator('[data-test=review-model]');
    expect(await model.textContent()).toBe('model tiny');
    expect(await model.getAttribute('title')).toBe(`model version ${queue[0].modelVersion}`);
    // Each frame has the image's shape: no black bars beside it.
    const fit = await page.locator('[data-test=review-frame]').evaluate((f) => {
      const img = f.querySelector('img')!;
      return { frame: f.clientWidth / f.clientHeight, image: img.naturalWidth / img.naturalHeight };
    });
    expect(fit.frame).toBeCloseTo(fit.image, 1);
    await shots('04-review');
    const first = queue[0].id;
    const second = queue[1].id;
    // The confirmation area is a polite live region that exists before anything is said in it.
    const said = page.locator('[data-test=review-confirmation]');
    expect(await said.getAttribute('aria-live')).toBe('polite');
    expect(await said.getAttribute('role')).toBe('status');
    expect((await said.textContent())?.trim()).toBe('');
    await page.locator('[data-test=review-comment]').fill('blob at top left, "clearly" visible');
    await page.locator('body').click({ position: { x: 5, y: 700 } }); // leave the comment box
    await page.keyboard.press('d');
    await page
      .locator('[data-test=review-position]')
      .getByText(`1 of ${queue.length - 1}`)
      .waitFor();
    await said.filter({ hasText: `Confirmed defect: ${queue[0].filePath.split('/').pop()!}` }).waitFor();
    await shots('04b-review-confirmed');
    await page.keyboard.press('f');
    await said.filter({ hasText: `False alarm: ${queue[1].filePath.split('/').pop()!}` }).waitFor();
    await waitFor(
      'two decisions',
      async () => (await station.getInspection({ id: second })).decisions.length === 1,
    );
    const a = await station.getInspection({ id: first });
    const b = await station.getInspection({ id: second });
    expect(a.decisions.map((d) => [d.decision, d.operator, d.comment])).toEqual([
      ['defect', 'Ana Operator', 'blob at top left, "clearly" visible'],
    ]);
    expect(b.decisions.map((d) => [d.decision, d.operator])).toEqual([['false_alarm', 'Ana Operator']]);

    // Undo: back to the last decision; the next key appends a correction, never an edit.
    await page.keyboard.press('u');
    await page.locator('[data-test=correcting]').waitFor();
    await page.keyboard.press('d');
    await waitFor(
      'the correction',
      async () => (await station.getInspection({ id: second })).decisions.length === 2,
    );
    const corrected = await station.getInspection({ id: second });
    expect(corrected.decisions.map((d) => d.decision)).toEqual(['false_alarm', 'defect']);
    expect(corrected.decisions[1].correctsDecisionId).toBe(corrected.decisions[0].id);
    expect(corrected.decision).toBe('defect');
    expect((await station.verifyAudit()).ok).toBe(true);
  }, 60_000);

  it('History shows both decisions with the operator, filtered and in detail', async () => {
    await view('history');
    await page.locator('[data-test=history-row]').first().waitFor();
    expect(await page.locator('[data-test=history-row]').count()).toBe(5);
    await page.locator('[data-test=filter-verdict]').selectOption('flag');
    await page.locator('[data-test=history-search]').click();
    const flagged = (await station.queryInspections({ verdict: 'flag', limit: 100 })).total;
    await page.locator('[data-test=history-total]').getByText(`of ${flagged}`).waitFor();
    const decisions = await page.locator('[data-test=history-decision]').allTextContents();
    expect(decisions.filter((d) => d === 'confirmed defect')).toHaveLength(2);
    await page.locator('[data-test=history-row]').filter({ hasText: 'confirmed defect' }).first().click();
    await page.locator('[data-test=history-detail]').waitFor();
    const entries = await page.locator('[data-test=history-decision-entry]').allTextContents();
    expect(entries.length).toBeGreaterThanOrEqual(1);
    expect(entries.every((e) => e.includes('Ana Operator'))).toBe(true);
    // The model by name, the path whole.
    const detail = page.locator('[data-test=history-detail]');
    expect(await detail.textContent()).toContain('tiny');
    const shown = await page.locator('[data-test=history-path]').textContent();
    expect((await station.queryInspections({ limit: 100 })).rows.map((r) => r.filePath)).toContain(shown);
    await shots('05-history');
  });

  it('Lines lists the line with its status and engine', async () => {
    await view('lines');
    const row = page.locator('[data-test=line-row]').filter({ hasText: 'Line 1' });
    await row.waitFor();
    // The folder in full in its column (not clipped); the status says the status, not the folder again.
    const folder = row.locator('[data-test=line-folder-cell]');
    expect((await folder.textContent())?.trim()).toBe(cam);
    expect(await folder.evaluate((td) => td.scrollWidth <= td.clientWidth)).toBe(true);
    expect((await row.locator('[data-test=line-status]').textContent())?.trim()).toBe('watching');
    expect(await row.locator('[data-test=line-threshold]').textContent()).toMatch(/calibrated 0\.\d{4}/);
    await shots('06-lines');
  });

  it('Models: train a tiny model from the UI and watch its progress', async () => {
    await view('models');
    const form = page.locator('[data-test=train-form]');
    await form.locator('[data-test=train-name]').fill('ui-trained');
    await form.locator('[data-test=train-data]').fill(goodFolder);
    // The form's default method is the recommended one, PatchCore: no epochs, a longest side instead of a size.
    expect(await form.locator('[data-test=train-method]').inputValue()).toBe('patchcore');
    expect(await form.locator('[data-test=train-epochs]').count()).toBe(0);
    await form.locator('[data-test=train-longest-side]').fill('0');
    await form.locator('[data-test=train-holdout]').fill('0.4'); // 60 images: 12 to stop early, 12 to calibrate
    await form.locator('[data-test=train-channels]').selectOption('1');
    await form.locator('[data-test=train-start]').click();
    const card = page.locator('[data-test=job-card]').filter({ hasText: 'ui-trained' });
    await card.waitFor();
    await card.locator('[data-test=job-progress]').waitFor({ timeout: 60_000 });
    await card.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    // 12 calibration images cannot estimate the default 0.5 % target: the job says so while it trains.
    expect(await card.locator('[data-test=job-warnings]').textContent()).toMatch(
      /held-out good images cannot estimate a 0\.5 % false-alarm rate: that needs at least 200/,
    );
    await shots('07-models-training');
    const finished = page
      .locator('[data-test=job-card]:is([data-state=done], [data-state=failed])')
      .filter({ hasText: 'ui-trained' });
    await finished.waitFor({ timeout: 170_000 });
    expect(await finished.getAttribute('data-state'), (await finished.textContent()) ?? '').toBe('done');
    await finished.scrollIntoViewIfNeeded();
    const models = await station.listModels();
    const trained = models.find((m) => m.name === 'ui-trained');
    expect(trained?.method).toBe('patchcore');
    expect(trained?.mode).toBe('native');
    await shots('08-models-trained');
  }, 200_000);

  it('Calibrate: moving the threshold shows the expected rates; applying it changes the line', async () => {
    await view('models');
    await page.getByRole('row').filter({ hasText: 'tiny' }).first().click();
    const panel = page.locator('[data-test=calibrate-panel]');
    await panel.waitFor();
    // The model's training record is shown with it.
    const tiny = (await station.listModels()).find((m) => m.name === 'tiny')!;
    expect(await page.locator('[data-test=model-training]').textContent()).toContain(
      `${tiny.training!.epochs} epochs (kept epoch ${tiny.training!.bestEpoch}`,
    );
    const before = await panel.locator('[data-test=false-alarm-rate]').textContent();
    const input = panel.locator('[data-test=threshold-input]');
    const cal = await station.getCalibration({ modelId: 1 });
    const low = Math.min(...cal.goodScores);
    await input.fill(String(low));
    await input.press('Enter');
    await panel
      .locator('[data-test=false-alarm-rate]')
      .filter({ hasNotText: before ?? '' })
      .waitFor();
    const expected = cal.goodScores.filter((s) => s > low).length / cal.goodScores.length;
    expect(await panel.locator('[data-test=false-alarm-rate]').textContent()).toContain(
      `${(expected * 100).toFixed(1)}`,
    );
    // Too few held-out good images for the 0.5 % target: the panel says so, and how coarse the rate is.
    expect(await panel.locator('[data-test=calibrate-too-few]').textContent()).toContain(
      `${cal.goodScores.length} held-out good images cannot estimate a 0.5% false-alarm rate`,
    );
    expect(await panel.locator('[data-test=false-alarm-resolution]').textContent()).toContain(
      `one image of ${cal.goodScores.length}`,
    );
    // The chart's axis holds every marker with room to spare, on round evenly spaced ticks.
    const axis = async () => {
      const label = (await panel.locator('canvas').getAttribute('aria-label')) ?? '';
      const m = /axis from ([\d.e+-]+) to ([\d.e+-]+) in steps of ([\d.e+-]+)/.exec(label);
      expect(m, label).not.toBeNull();
      return { min: Number(m![1]), max: Number(m![2]), step: Number(m![3]) };
    };
    const inside = (a: { min: number; max: number }, x: number) =>
      x - a.min >= 0.02 * (a.max - a.min) && a.max - x >= 0.02 * (a.max - a.min);
    const a = await axis();
    const round = (x: number) => Math.abs(x / a.step - Math.round(x / a.step)) < 1e-6;
    expect(round(a.min) && round(a.max)).toBe(true);
    expect(/^(1|2|2\.5|5)0*$/.test(String(a.step).replace(/^0\.0*|\./g, ''))).toBe(true);
    expect(inside(a, cal.threshold!)).toBe(true);
    expect(inside(a, low)).toBe(true);
    expect(inside(a, Math.max(...cal.goodScores))).toBe(true);
    await shots('09-calibrate');
    await panel.locator('[data-test=apply-line]').selectOption({ index: 1 }); // the one line on this model
    await panel.locator('[data-test=apply-threshold]').click();
    await waitFor('the line threshold override', async () => {
      const [line] = await station.listLines({});
      return (
        line.thresholdOverride !== null && Math.abs(line.thresholdOverride - low) < 1e-6 * Math.max(1, low)
      );
    });
    // The line's actual threshold is on the panel: the override it now judges by.
    await panel
      .locator('[data-test=calibrate-line]')
      .filter({ hasText: 'Line 1' })
      .locator('[data-test=calibrate-line-threshold]')
      .filter({ hasText: low.toPrecision(4) })
      .waitFor();
    expect(await panel.locator('[data-test=calibrate-line]').textContent()).toContain('threshold override');
    await panel.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await shots('09b-calibrate-applied');
  });

  it('Evaluate: a labelled folder gives the ROC curve and the same AUROC as the station computes', async () => {
    const labelled = join(t.dir, 'labelled');
    await writeMvtecSet(labelled, { train: 0, testGood: 12, testBad: 12 });
    const panel = page.locator('[data-test=model-detail]');
    await panel.locator('[data-test=model-tab-evaluate]').click();
    await panel.locator('[data-test=evaluate-data]').fill(labelled);
    await panel.locator('[data-test=evaluate-start]').click();
    const result = panel.locator('[data-test=evaluate-result]');
    await result.waitFor({ timeout: 90_000 });
    const direct = await station.evaluateModel({ modelId: 1, data: labelled });
    expect(await result.textContent()).toContain(direct.overall.auroc.toFixed(3));
    await result.scrollIntoViewIfNeeded();
    await shots('10-evaluate');
  }, 120_000);

  it('Reports: the preview shows the database’s numbers; export gives a PDF and a CSV to download', async () => {
    // One more part, judged at the override Calibrate applied: the report must show both thresholds.
    const before = (await station.queryInspections({ limit: 1 })).total;
    await dropPart(cam, 'after-override.png', 9200);
    await waitFor('the part judged at the override', async () => {
      return (await station.queryInspections({ limit: 1 })).total === before + 1;
    });
    await view('reports');
    await page.locator('[data-test=report-preview]').click();
    const summary = page.locator('[data-test=report-summary]');
    await summary.waitFor();
    const all = await page.locator('[data-test=report-row]').first().locator('td').allTextContents();
    const rows = (await station.queryInspections({ limit: 1000 })).rows;
    const count = (f: (r: (typeof rows)[number]) => boolean) => String(rows.filter(f).length);
    expect(all.slice(0, 4)).toEqual([
      'All lines',
      String(rows.length),
      count((r) => r.verdict === 'pass'),
      count((r) => r.verdict === 'flag'),
    ]);
    expect(await page.locator('[data-test=report-audit]').textContent()).toMatch(/verified/);
    // Models in force: the thresholds the rows were judged by (calibrated, then the line's override).
    const [line] = await station.listLines({});
    const judged = [...new Set(rows.filter((r) => r.verdict !== 'error').map((r) => r.threshold!))];
    expect(judged).toHaveLength(2);
    const applied = await page
      .locator('[data-test=report-model]')
      .filter({ hasText: 'tiny' })
      .locator('[data-test=report-model-applied]')
      .textContent();
    for (const th of judged) expect(applied).toContain(`${th.toPrecision(4)} on Line 1`);
    expect(applied).toContain(`${line.thresholdOverride!.toPrecision(4)} on Line 1 (1)`);
    // Days are local days, said with the zone (this browser's: the test machine's).
    const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(await page.locator('[data-test=report-days-heading]').textContent()).toContain(
      `Per day (local days, ${zone}`,
    );
    await page.locator('[data-test=report-export]').click();
    const links = page.locator('[data-test=report-download]');
    await links.first().waitFor({ timeout: 60_000 });
    const hrefs = await links.evaluateAll((as) => as.map((a) => (a as unknown as { href: string }).href));
    expect(hrefs).toHaveLength(2);
    const pdf = Buffer.from(await (await fetch(hrefs.find((h) => h.endsWith('.pdf'))!)).arrayBuffer());
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const csv = await (await fetch(hrefs.find((h) => h.endsWith('.csv'))!)).text();
    expect(csv.trim().split('\r\n')).toHaveLength(rows.length + 1); // header + one row per inspection
    expect(csv.split('\r\n')[0]).toContain('scored_local_day,time_zone');
    await shots('11-reports');
  }, 90_000);

  it('Reports: a browser in another time zone gets its own local days, said with the zone', async () => {
    const other = await browser.newContext({
      timezoneId: 'Asia/Kolkata',
      viewport: { width: 1366, height: 768 },
    });
    try {
      const p = await other.newPage();
      await p.goto(`${server.url}/#/reports`);
      await p.locator('[data-test=report-preview]').click();
      await p.locator('[data-test=report-days-heading]').waitFor();
      // (Chromium names the zone by its old ICU id, Asia/Calcutta: the report says what the browser says.)
      const zone = await p.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
      expect(zone).toMatch(/^Asia\/(Kolkata|Calcutta)$/);
      expect(await p.locator('[data-test=report-days-heading]').textContent()).toBe(
        `Per day (local days, ${zone}, UTC+05:30)`,
      );
      // The images' days in Kolkata's calendar, worked out by the browser from each row's time, and shown as
      // the UI's language (English here) writes a date.
      const times = (await station.queryInspections({ limit: 1000 })).rows.map((r) => r.scoredAt);
      const days = await p.evaluate(
        (isos) => [...new Set(isos.map((iso) => new Date(iso).toLocaleDateString('en-CA')))].sort(),
        times,
      );
      expect(
        await p.locator('[data-test=report-day]').evaluateAll((rows) => rows.map((r) => r.dataset.day)),
      ).toEqual(days);
      const shown = days.map((day) => {
        const [y, m, d] = day.split('-');
        return `${m}/${d}/${y}`;
      });
      expect(await p.locator('[data-test=report-day] td:first-child').allTextContents()).toEqual(shown);
    } finally {
      await other.close();
    }
  });

  it('History pages through 20,000 more inspections by keyset cursor', async () => {
    const [line] = await station.listLines({});
    const t0 = Date.parse('2026-01-05T06:00:00Z');
    for (let i = 0; i < 20_000; i++) {
      const flag = i % 50 === 0;
      station.db.insertInspection({
        lineId: line.id,
        modelId: 1,
        modelVersion: 'bulk',
        filePath: `/bulk/part-${String(i).padStart(5, '0')}.png`,
        fileSize: 1000,
        fileMtimeMs: t0 + i * 1000,
        sha256: null,
        receivedAt: t0 + i * 1000,
        scoredAt: t0 + i * 1000,
        rawScore: flag ? 0.9 : 0.1,
        normalizedScore: flag ? 0.9 : 0.1,
        threshold: 0.5,
        verdict: flag ? 'flag' : 'pass',
      });
    }
    const total = (await station.queryInspections({ limit: 1 })).total;
    expect(total).toBeGreaterThan(20_000);
    await view('history');
    await page.locator('[data-test=history-search]').click(); // fresh query (the store kept the old one)
    // Counts are grouped as the UI's language writes them (English: 20,006).
    const n = total.toLocaleString('en-US');
    await page.locator('[data-test=history-total]').getByText(`1–50 of ${n}`).waitFor();
    for (let p = 1; p <= 3; p++) {
      await page.locator('[data-test=history-next]').click();
      await page
        .locator('[data-test=history-total]')
        .getByText(`${p * 50 + 1}–${p * 50 + 50} of ${n}`)
        .waitFor();
    }
    // Page 4 shows exactly the rows the API returns at that depth, newest first.
    let cursor: string | undefined;
    for (let p = 0; p < 3; p++)
      cursor = (await station.queryInspections({ limit: 50, cursor })).nextCursor ?? undefined;
    const expected = (await station.queryInspections({ limit: 50, cursor })).rows.map((r) => String(r.id));
    const shown = await page.locator('[data-test=history-row] td:first-child').allTextContents();
    expect(shown).toEqual(expected);

    // A row far down the page opens its detail in view, beside it, not at the top out of sight.
    const last = page.locator('[data-test=history-row]').last();
    await last.scrollIntoViewIfNeeded();
    expect(await page.locator('body').evaluate((b) => b.ownerDocument.defaultView!.scrollY)).toBeGreaterThan(
      300,
    );
    const name = (await last.locator('.file').textContent())!;
    await last.click();
    await page.locator('[data-test=history-detail] h3').filter({ hasText: name }).waitFor();
    expect(await inView('[data-test=history-detail] h3')).toBe(true);
    expect(await inView('[data-test=history-detail] dl')).toBe(true);
    await shots('14-history-far-down');
  }, 120_000);

  it('History: a long path wraps only after its separators, whole in the tooltip', async () => {
    const [line] = await station.listLines({});
    const long =
      '/mnt/plant-north/cameras/line-07-final-inspection/station-b-top-view/2026-11-29/exports/' +
      'part-000123-front-left-highres.png';
    const id = station.db.insertInspection({
      lineId: line.id,
      modelId: 1,
      modelVersion: 'bulk',
      filePath: long,
      fileSize: 1000,
      fileMtimeMs: Date.now(),
      sha256: null,
      receivedAt: Date.now(),
      scoredAt: Date.now(),
      rawScore: 0.1,
      normalizedScore: 0.1,
      threshold: 0.5,
      verdict: 'pass',
    });
    await view('history');
    await page.locator('[data-test=history-search]').click();
    await page
      .locator('[data-test=history-row]')
      .filter({ hasText: String(id) })
      .first()
      .click();
    const path = page.locator('[data-test=history-path]');
    await path.filter({ hasText: 'highres' }).waitFor();
    expect(await path.textContent()).toBe(long);
    expect(await path.locator('[title]').getAttribute('title')).toBe(long);
    const ends = await lineEnds('[data-test=history-path]');
    expect(ends.length).toBeGreaterThanOrEqual(1); // it did wrap
    expect(ends.every((c) => c === '/')).toBe(true);
    await shots('15-history-long-path');
  });

  it('fills a large monitor too (1920x1080 screenshots of Live and History)', async () => {
    await page.setViewportSize({ width: 1920, height: 1080 });
    await view('live');
    await page.locator('[data-test=live-line]').waitFor();
    await waitFor('the Live images', () =>
      page
        .locator('.live img')
        .evaluateAll((imgs) =>
          imgs.every((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0),
        ),
    );
    await shot('12-live-1920');
    await view('history');
    await page.locator('[data-test=history-row]').first().waitFor();
    await shot('13-history-1920');
    await page.setViewportSize({ width: 1366, height: 768 });
  });

  it('speaks German, Japanese, Korean and English: every view, no missing message, nothing cut off at 1366x768', async () => {
    const catalogue = (lang: string) =>
      JSON.parse(readFileSync(join(ROOT, 'src/renderer/src/i18n/locales', `${lang}.json`), 'utf8')) as {
        app: { view: Record<string, string> };
        review: { confirmDefect: string; falseAlarm: string };
        reports: { head: Record<string, string> };
      };
    // Something to review in every language.
    await dropPart(cam, 'i18n-defect.png', 9300, true);
    await waitFor(
      'a flagged part to review',
      async () => (await station.reviewQueue({ limit: 1 })).length > 0,
    );
    // The check itself sees a label that does not fit (a long German word in a narrow button).
    await view('settings');
    await page.locator('body').evaluate((body) => {
      const b = body.ownerDocument.createElement('button');
      b.id = 'too-narrow';
      b.style.cssText = 'width: 40px; white-space: nowrap';
      b.textContent = 'Ausschussbestätigung';
      body.append(b);
    });
    expect((await cutOff()).join('\n')).toContain('Ausschussbestätigung');
    await page.locator('#too-narrow').evaluate((b) => b.remove());
    expect(await cutOff()).toEqual([]);
    const views = ['live', 'review', 'history', 'reports', 'models', 'lines', 'settings'];
    for (const lang of ['de', 'ja', 'ko', 'en']) {
      const m = catalogue(lang);
      await view('settings');
      await page.locator('[data-test=language]').selectOption(lang);
      await page.locator(`nav a[data-view=settings]`).filter({ hasText: m.app.view.settings }).waitFor();
      // Remembered: a reload speaks it too, and the page says its language.
      await page.reload();
      await page.locator(`nav a[data-view=settings]`).filter({ hasText: m.app.view.settings }).waitFor();
      expect(await page.locator('html').getAttribute('lang')).toBe(lang);
      expect(await page.locator('[data-test=language]').inputValue()).toBe(lang);
      for (const v of views) {
        await view(v);
        expect((await page.locator(`nav a[data-view=${v}]`).textContent())?.trim()).toContain(m.app.view[v]);
        if (v === 'review') {
          await page.locator('[data-test=review-position]').waitFor();
          // The keys are D, F, U in every language, and the buttons say so.
          const defect = page.locator('[data-test=confirm-defect]');
          expect((await defect.textContent())?.trim()).toBe(`${m.review.confirmDefect} D`);
          expect(await page.locator('[data-test=false-alarm] kbd').textContent()).toBe('F');
          expect(await page.locator('[data-test=undo] kbd').textContent()).toBe('U');
          expect(await page.locator('[data-test=review-keys] kbd').allTextContents()).toEqual(
            expect.arrayContaining(['D', 'F', 'U', 'C']),
          );
          // Scores are numbers in the language's own writing: a decimal comma in German.
          expect(await page.locator('.review .score .muted').textContent()).toMatch(
            lang === 'de' ? /\d,\d/ : /\d\.\d/,
          );
        }
        if (v === 'reports') {
          // The report's language follows the UI's; the preview's table is the widest text on any view.
          expect(await page.locator('[data-test=report-language]').inputValue()).toBe(lang);
          await page.locator('[data-test=report-preview]').click();
          await page.locator('[data-test=report-row]').first().waitFor();
          expect(await page.locator('[data-test=report-summary] th').allTextContents()).toEqual(
            expect.arrayContaining(Object.values(m.reports.head)),
          );
        }
        if (v === 'models') await page.getByRole('row').filter({ hasText: 'tiny' }).first().click();
        if (v === 'history') await page.locator('[data-test=history-row]').first().waitFor();
        await settled();
        expect(await cutOff(), `${lang} ${v}`).toEqual([]);
        await shot(`i18n-${lang}-${v}`);
      }
    }
    expect(i18nWarnings).toEqual([]);
  }, 180_000);

  it('had no script errors or CSP violations', () => {
    expect(pageErrors).toEqual([]);
  });
});
