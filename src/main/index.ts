// Electron main process: the desktop shell around the station core, kept deliberately thin. It opens the
// station in the user's data folder, carries the StationApi over IPC (src/main/electron/ipc.ts), serves
// images on station://image/<id>/<kind>, and keeps running in the tray while a training job runs.
import { join } from 'node:path';
import {
  app,
  BrowserWindow,
  ipcMain,
  Menu,
  Notification,
  protocol,
  session,
  Tray,
  nativeImage,
} from 'electron';
import { IMAGE_SCHEME, PRODUCT_NAME } from '../common/api';
import { selectBackend, describeBackend } from '../ml';
import { startDemo } from './cli/demo-station';
import { forwardEvents, protocolResponse, serveIpc } from './electron/ipc';
import { validated } from './station/in-process';
import { Station } from './station/station';

let mainWindow: BrowserWindow | null = null;
let tray: Tray | null = null;
let station: Station | null = null;
let quitting = false;

// station:// behaves like https for fetch/img and CSP ('self' does not cover it; index.html names it).
protocol.registerSchemesAsPrivileged([
  { scheme: IMAGE_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);

const rendererUrl = () => (!app.isPackaged ? process.env['ELECTRON_RENDERER_URL'] : undefined);

/** Only our own page may call the station: the built file, or the dev server in `npm run dev`. */
function isTrustedUrl(url: string): boolean {
  const dev = rendererUrl();
  if (dev && url.startsWith(dev)) return true;
  return url.startsWith('file://') && url.includes('/renderer/index.html');
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    title: PRODUCT_NAME,
    width: 1366,
    height: 768,
    minWidth: 1024,
    minHeight: 640,
    show: false,
    autoHideMenuBar: true,
    webPreferences: {
      // Sandboxed preloads must be CommonJS; electron.vite.config.ts emits index.cjs.
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  // Closing the window while training runs keeps the app in the tray: the job must not die with the window.
  win.on('close', (event) => {
    if (!quitting && trainingRunning) {
      event.preventDefault();
      win.hide();
      tray?.displayBalloon?.({ title: PRODUCT_NAME, content: 'Training continues in the background.' });
    }
  });
  win.on('closed', () => {
    mainWindow = null;
  });
  const dev = rendererUrl();
  if (dev) void win.loadURL(dev);
  else void win.loadFile(join(import.meta.dirname, '../renderer/index.html'));
  return win;
}

let trainingRunning = false;

function showWindow(): void {
  if (!mainWindow) mainWindow = createWindow();
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.show();
  mainWindow.focus();
}

// Every web contents may neither navigate away from the app nor open new windows: all content is local.
app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
});

async function startStation(): Promise<void> {
  const backend = await selectBackend(process.env['STATION_BACKEND']);
  const shellDetail = `Electron ${process.versions.electron} (Chrome ${process.versions.chrome}, Node ${process.versions.node})`;
  console.log(`${describeBackend(backend)}\nshell: ${shellDetail}`);
  const dataDir = process.env['STATION_DATA_DIR'] ?? join(app.getPath('userData'), 'station');
  station = await Station.open({
    dataDir,
    backend: backend.name,
    shell: 'electron',
    shellDetail,
    version: app.getVersion(),
  });
  const api = validated(station);
  serveIpc(ipcMain, api, isTrustedUrl);
  protocol.handle(IMAGE_SCHEME, (req) => protocolResponse(api, req.url));
  forwardEvents(api, () => mainWindow?.webContents ?? null);

  const running = new Set<number>();
  let unseenFlags = 0;
  let notifyTimer: NodeJS.Timeout | undefined;
  api.onEvent((e) => {
    if (e.type === 'training-progress') {
      if (e.job.state === 'running' || e.job.state === 'queued') running.add(e.job.id);
      else running.delete(e.job.id);
      trainingRunning = running.size > 0;
    }
    // Flagged parts while the window is hidden or in the background: at most one notification per 10 s,
    // with the count, so a burst does not bury the operator's desktop.
    if (e.type === 'inspection' && e.inspection.verdict === 'flag' && !mainWindow?.isFocused()) {
      unseenFlags += 1;
      notifyTimer ??= setTimeout(() => {
        notifyTimer = undefined;
        if (Notification.isSupported())
          new Notification({
            title: `${unseenFlags} part${unseenFlags === 1 ? '' : 's'} flagged`,
            body: 'Waiting in the review queue.',
          }).show();
        unseenFlags = 0;
      }, 10_000);
    }
  });

  // A fresh install shows something real: the demo line (the demo model trains once, as a training job).
  // STATION_DEMO=0 starts an empty station instead.
  if (process.env['STATION_DEMO'] !== '0' && (await api.listLines({})).length === 0) {
    startDemo(api, dataDir, {
      everySeconds: 3,
      loop: process.argv.includes('--loop'),
      log: (m) => console.log(m),
    });
  }
}

if (!app.requestSingleInstanceLock()) {
  // Another station already runs on this machine (it owns the cameras and the database): leave.
  app.quit();
} else {
  app.on('second-instance', showWindow);
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin' && !trainingRunning) app.quit();
  });
  app.on('before-quit', () => {
    quitting = true;
  });
  app.on('will-quit', (event) => {
    if (!station) return;
    event.preventDefault();
    const s = station;
    station = null;
    void s.close().finally(() => app.quit());
  });

  void app.whenReady().then(async () => {
    // No camera, microphone, notification, geolocation... prompts: the UI needs none of them.
    session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
    session.defaultSession.setPermissionCheckHandler(() => false);
    await startStation();
    tray = new Tray(nativeImage.createEmpty());
    tray.setToolTip(PRODUCT_NAME);
    tray.setContextMenu(
      Menu.buildFromTemplate([
        { label: 'Show station', click: showWindow },
        { label: 'Quit', click: () => ((quitting = true), app.quit()) },
      ]),
    );
    mainWindow = createWindow();
    app.on('activate', showWindow);
  });
}
