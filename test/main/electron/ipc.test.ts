// The Electron transport in Node: main's IPC handler and image protocol against a real station, and the
// preload's bridge wired to that handler through a fake IPC pipe (only Electron itself is faked).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_METHODS,
  IPC_CALL,
  IPC_EVENT,
  StationError,
  type IpcReply,
  type StationEvent,
} from '../../../src/common/api';
import {
  forwardEvents,
  protocolResponse,
  serveIpc,
  type IpcCallEvent,
  type IpcMainLike,
} from '../../../src/main/electron/ipc';
import { validated } from '../../../src/main/station/in-process';
import { Station } from '../../../src/main/station/station';
import { createStationBridge, type IpcRendererLike } from '../../../src/preload/bridge';
import { tempDir } from '../../helpers/fixtures';
import { dropPart, trainTinyModel, waitFor } from '../../helpers/station-fixtures';

const APP_URL = 'file:///opt/anomaly-station/resources/app/out/renderer/index.html';
const t = tempDir();
let station: Station;
let cam: string;

/** ipcMain + ipcRenderer joined back to back, as Electron would join them; the frame URL is the sender's. */
function fakeIpc(frameUrl: string) {
  const handlers = new Map<string, (e: IpcCallEvent, ...args: unknown[]) => Promise<IpcReply>>();
  const listeners = new Map<string, Set<(event: unknown, payload: unknown) => void>>();
  const ipcMain: IpcMainLike = {
    handle: (channel, fn) => void handlers.set(channel, fn),
    removeHandler: (channel) => void handlers.delete(channel),
  };
  const ipcRenderer: IpcRendererLike = {
    // Structured clone on the way in and out, as IPC does: nothing but data crosses.
    invoke: async (channel, ...args) => {
      const fn = handlers.get(channel);
      if (!fn) throw new Error(`no handler for ${channel}`);
      return structuredClone(await fn({ senderFrame: { url: frameUrl } }, ...structuredClone(args)));
    },
    on: (channel, fn) =>
      void (listeners.get(channel) ?? listeners.set(channel, new Set()).get(channel)!).add(fn),
    removeListener: (channel, fn) => void listeners.get(channel)?.delete(fn),
  };
  const webContents = {
    isDestroyed: () => false,
    send: (channel: string, e: StationEvent) =>
      listeners.get(channel)?.forEach((fn) => fn({ sender: 'electron-internal' }, structuredClone(e))),
  };
  return { ipcMain, ipcRenderer, webContents, handlers };
}

beforeAll(async () => {
  const modelDir = await trainTinyModel(t.dir);
  cam = join(t.dir, 'cam');
  mkdirSync(cam);
  station = await Station.open({ dataDir: join(t.dir, 'data'), backend: 'wasm', settleMs: 150 });
  const model = await station.registerModel({ folder: modelDir });
  await station.addLine({ name: 'IPC line', folder: cam, modelId: model.id });
}, 120_000);

afterAll(async () => {
  await station?.close();
  t.cleanup();
});

describe('Electron IPC transport (main handler + preload bridge)', () => {
  it('carries every StationApi method, events and typed errors between the bridge and main', async () => {
    const ipc = fakeIpc(APP_URL);
    const stop = serveIpc(ipc.ipcMain, validated(station), (url) => url === APP_URL);
    const unforward = forwardEvents(station, () => ipc.webContents);
    const api = createStationBridge(ipc.ipcRenderer);

    // Exactly the StationApi: one function per method plus onEvent, frozen.
    expect(Object.keys(api).sort()).toEqual([...API_METHODS, 'onEvent'].sort());
    expect(Object.isFrozen(api)).toBe(true);

    const lines = await api.listLines({});
    expect(lines.map((l) => l.name)).toEqual(['IPC line']);

    const events: StationEvent[] = [];
    const off = api.onEvent((e) => events.push(e));
    await dropPart(cam, 'flagged.png', 7001, true);
    const ev = await waitFor('inspection event through the bridge', () =>
      events.find((e) => e.type === 'inspection'),
    );
    expect(ev.type === 'inspection' && ev.inspection.verdict).toBe('flag');
    off();

    // Errors keep their code across IPC (Electron would drop a thrown error's custom fields).
    const missing = await api.getInspection({ id: 999_999 }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StationError);
    expect((missing as StationError).code).toBe('not-found');
    const refused = await api.decide({ inspectionId: 1, decision: 'defect' }).catch((e: unknown) => e);
    expect((refused as StationError).code).toBe('refused'); // nobody signed in
    unforward();
    stop();
    expect(ipc.handlers.has(IPC_CALL)).toBe(false);
  }, 60_000);

  it('validates every payload in main, whatever the renderer sends', async () => {
    const ipc = fakeIpc(APP_URL);
    serveIpc(ipc.ipcMain, validated(station), (url) => url === APP_URL);
    const call = (...args: unknown[]) => ipc.ipcRenderer.invoke(IPC_CALL, ...args) as Promise<IpcReply>;

    const cases: [unknown, unknown, RegExp][] = [
      ['getInspection', { id: -1 }, /getInspection: id/],
      ['getInspection', { id: 1, extra: true }, /Unrecognized key/],
      ['getImage', { inspectionId: 1, kind: '../../station.db' }, /getImage: kind/],
      ['addLine', { name: 'x', folder: 'a\0b', modelId: 1 }, /NUL byte/],
      [
        'startTraining',
        { name: '../escape', data: '/tmp', method: 'ganomaly', size: 32, channels: 1, epochs: 1 },
        /model name/,
      ],
      ['close', {}, /unknown method: close/],
      ['constructor', {}, /unknown method/],
      [42, {}, /unknown method: 42/],
    ];
    for (const [method, payload, message] of cases) {
      const r = await call(method, payload);
      expect(r.ok, `${String(method)} ${JSON.stringify(payload)}`).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe('invalid');
        expect(r.error.message).toMatch(message);
      }
    }
  });

  it('refuses calls from any page but the app’s own', async () => {
    for (const url of ['https://evil.example/', 'file:///tmp/other.html', '']) {
      const ipc = fakeIpc(url);
      serveIpc(ipc.ipcMain, validated(station), (u) => u === APP_URL);
      const r = (await ipc.ipcRenderer.invoke(IPC_CALL, 'getInfo', {})) as IpcReply;
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('unauthorized');
    }
  });

  it('forwards events only while the window exists, and stops when unsubscribed', () => {
    let listener: ((e: StationEvent) => void) | undefined;
    const source = {
      onEvent: (l: (e: StationEvent) => void) => {
        listener = l;
        return () => (listener = undefined);
      },
    };
    const sent: unknown[] = [];
    let destroyed = false;
    const off = forwardEvents(source, () => ({
      isDestroyed: () => destroyed,
      send: (channel, e) => void sent.push([channel, e]),
    }));
    listener?.({ type: 'error', message: 'shown' });
    destroyed = true;
    listener?.({ type: 'error', message: 'window gone' });
    off();
    expect(listener).toBeUndefined();
    expect(sent).toEqual([[IPC_EVENT, { type: 'error', message: 'shown' }]]);
  });

  it('serves station://image/<id>/<kind> through the database and nothing else', async () => {
    const [insp] = await station.latestInspections({ limit: 1 });
    expect(insp).toBeDefined();
    const ok = await protocolResponse(station, `station://image/${insp.id}/heatmap`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    const bytes = new Uint8Array(await ok.arrayBuffer());
    expect([...bytes.slice(1, 4)].map((b) => String.fromCharCode(b)).join('')).toBe('PNG');

    const expectStatus = async (url: string, status: number) =>
      expect((await protocolResponse(station, url)).status, url).toBe(status);
    await expectStatus(`station://image/${insp.id}/../../station.db`, 400);
    await expectStatus(`station://image/${insp.id}/secrets`, 400);
    await expectStatus('station://image/abc/original', 400);
    await expectStatus('station://file/etc/passwd', 400);
    await expectStatus(`station://image/${insp.id}/original?x=../../a`, 400);
    await expectStatus('station://image/999999/original', 404);
    // Reports by name only.
    await expectStatus('station://report/..%2Fstation.db', 400);
    await expectStatus('station://report/station.db', 400);
    await expectStatus('station://report/a/b.pdf', 400);
    await expectStatus('station://report/report-missing.pdf', 404);
  });
});
