// Preload bridge (sandboxed, context-isolated): the only door between the renderer and Electron.
//
// For now it exposes a tiny read-only `StationInfo`. The full StationApi (typed IPC calls into the
// station core) is added here, in src/common/api.ts and in src/main with the station-core issue.
import { contextBridge } from 'electron';
import type { StationInfo } from '../common/api';

const info: StationInfo = {
  shell: 'electron',
  versions: {
    electron: process.versions.electron,
    chrome: process.versions.chrome,
    node: process.versions.node,
  },
};

contextBridge.exposeInMainWorld('station', info);
