// Preload bridge (sandboxed, context-isolated): the only door between the renderer and Electron. It exposes
// exactly the StationApi as `window.station` — the same typed interface the renderer uses over HTTP in a
// browser — and nothing else: no ipcRenderer, no Node.
import { contextBridge, ipcRenderer } from 'electron';
import { createStationBridge } from './bridge';

contextBridge.exposeInMainWorld('station', createStationBridge(ipcRenderer));
