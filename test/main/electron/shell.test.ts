// The Electron shell (src/main/index.ts) and preload (src/preload/index.ts) with only the `electron` module
// faked: the window's security settings, what the preload exposes, navigation/permission refusals, the
// image protocol and the IPC handler wired to a real station in a temp folder.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { API_METHODS, IMAGE_SCHEME, IPC_CALL, type IpcReply } from '../../../src/common/api';
import { tempDir } from '../../helpers/fixtures';

const fake = vi.hoisted(() => {
  const state = {
    windows: [] as { options: Record<string, unknown>; loaded?: string; handlers: Record<string, unknown> }[],
    ipcHandlers: new Map<string, (...a: unknown[]) => Promise<unknown>>(),
    appHandlers: new Map<string, (...a: unknown[]) => void>(),
    privileged: [] as unknown[],
    protocolHandlers: new Map<string, (req: { url: string }) => Promise<Response>>(),
    permissionRequest: undefined as undefined | ((c: unknown, p: string, cb: (ok: boolean) => void) => void),
    permissionCheck: undefined as undefined | (() => boolean),
    exposed: new Map<string, unknown>(),
    ready: undefined as undefined | (() => void),
  };
  return state;
});

vi.mock('electron', () => {
  class BrowserWindow {
    static getAllWindows = () => fake.windows;
    handlers: Record<string, unknown> = {};
    webContents = { isDestroyed: () => false, send: () => undefined };
    constructor(readonly options: Record<string, unknown>) {
      fake.windows.push(this as never);
    }
    once(ev: string, fn: unknown) {
      this.handlers[ev] = fn;
    }
    on(ev: string, fn: unknown) {
      this.handlers[ev] = fn;
    }
    loadFile(f: string) {
      (this as unknown as { loaded: string }).loaded = f;
      return Promise.resolve();
    }
    loadURL(u: string) {
      (this as unknown as { loaded: string }).loaded = u;
      return Promise.resolve();
    }
    isFocused = () => true;
  }
  const app = {
    isPackaged: false,
    requestSingleInstanceLock: () => true,
    getPath: () => '/nonexistent-userdata',
    getVersion: () => '0.1.0-test',
    on: (ev: string, fn: (...a: unknown[]) => void) => void fake.appHandlers.set(ev, fn),
    whenReady: () => new Promise<void>((r) => (fake.ready = r)),
    quit: () => undefined,
  };
  return {
    app,
    BrowserWindow,
    ipcMain: {
      handle: (ch: string, fn: (...a: unknown[]) => Promise<unknown>) => void fake.ipcHandlers.set(ch, fn),
      removeHandler: (ch: string) => void fake.ipcHandlers.delete(ch),
    },
    ipcRenderer: { invoke: async () => undefined, on: () => undefined, removeListener: () => undefined },
    contextBridge: { exposeInMainWorld: (k: string, v: unknown) => void fake.exposed.set(k, v) },
    protocol: {
      registerSchemesAsPrivileged: (s: unknown[]) => void fake.privileged.push(...s),
      handle: (scheme: string, fn: (req: { url: string }) => Promise<Response>) =>
        void fake.protocolHandlers.set(scheme, fn),
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (fn: never) => (fake.permissionRequest = fn),
        setPermissionCheckHandler: (fn: never) => (fake.permissionCheck = fn),
      },
    },
    Menu: { buildFromTemplate: (t: unknown) => t },
    Tray: class {
      setToolTip() {}
      setContextMenu() {}
    },
    nativeImage: { createEmpty: () => ({}) },
    Notification: class {
      static isSupported = () => false;
      show() {}
    },
  };
});

const t = tempDir();

beforeAll(async () => {
  process.env['STATION_DATA_DIR'] = t.dir;
  process.env['STATION_DEMO'] = '0';
  process.env['STATION_BACKEND'] = 'wasm';
  await import('../../../src/main/index');
  fake.ready?.();
  await vi.waitFor(() => expect(fake.windows).toHaveLength(1), { timeout: 30_000 });
}, 60_000);

afterAll(async () => {
  const quit = fake.appHandlers.get('will-quit');
  quit?.({ preventDefault: () => undefined });
  await new Promise((r) => setTimeout(r, 500));
  t.cleanup();
});

describe('Electron main process (electron faked)', () => {
  it('opens one locked-down window on the built page', () => {
    const [win] = fake.windows;
    const prefs = win.options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
    });
    expect(String(prefs.preload)).toMatch(/preload[\\/]index\.cjs$/);
    expect(win.loaded).toMatch(/renderer[\\/]index\.html$/);
  });

  it('refuses navigation, new windows, webviews and every permission', () => {
    const created = fake.appHandlers.get('web-contents-created')!;
    const on = new Map<string, (e: { preventDefault(): void }) => void>();
    let openHandler: (() => { action: string }) | undefined;
    created(
      {},
      {
        on: (ev: string, fn: never) => on.set(ev, fn),
        setWindowOpenHandler: (fn: never) => (openHandler = fn),
      },
    );
    for (const ev of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      let prevented = false;
      on.get(ev)!({ preventDefault: () => (prevented = true) });
      expect(prevented, ev).toBe(true);
    }
    expect(openHandler!()).toEqual({ action: 'deny' });
    let granted: boolean | undefined;
    fake.permissionRequest!({}, 'media', (ok) => (granted = ok));
    expect(granted).toBe(false);
    expect(fake.permissionCheck!()).toBe(false);
  });

  it('answers IPC from its own page only, against the real station in the data dir', async () => {
    const handler = fake.ipcHandlers.get(IPC_CALL)!;
    const page = 'file:///app/out/renderer/index.html';
    const info = (await handler({ senderFrame: { url: page } }, 'getInfo', {})) as IpcReply;
    expect(info.ok).toBe(true);
    if (info.ok) {
      const v = info.value as { shell: string; dataDir: string; shellDetail: string };
      expect(v.shell).toBe('electron');
      expect(v.dataDir).toBe(t.dir);
      expect(v.shellDetail).toMatch(/^Electron /);
    }
    const evil = (await handler(
      { senderFrame: { url: 'https://evil.example/' } },
      'getInfo',
      {},
    )) as IpcReply;
    expect(evil.ok).toBe(false);
  });

  it('registers station:// as a privileged scheme and serves only database images on it', async () => {
    expect(fake.privileged).toEqual([
      expect.objectContaining({
        scheme: IMAGE_SCHEME,
        privileges: expect.objectContaining({ secure: true }),
      }),
    ]);
    const handle = fake.protocolHandlers.get(IMAGE_SCHEME)!;
    expect((await handle({ url: 'station://image/1/original' })).status).toBe(404);
    expect((await handle({ url: 'station://image/1/../../station.db' })).status).toBe(400);
  });
});

describe('preload (electron faked)', () => {
  it('exposes exactly the StationApi as window.station and nothing else', async () => {
    await import('../../../src/preload/index');
    expect([...fake.exposed.keys()]).toEqual(['station']);
    const api = fake.exposed.get('station') as Record<string, unknown>;
    expect(Object.keys(api).sort()).toEqual([...API_METHODS, 'onEvent'].sort());
    expect(Object.values(api).every((v) => typeof v === 'function')).toBe(true);
  });
});
