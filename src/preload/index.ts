// Preload bridge (sandboxed, context-isolated): the only door between the renderer and Electron.
//
// For now it exposes a tiny read-only `ShellInfo`. The StationApi over IPC (same type as the HTTP transport)
// is added here with the UI issue.
import { contextBridge } from 'electron';
import type { ShellInfo } from '../common/api';

const info: ShellInfo = {
  shell: 'electron',
  versions: {
    electron: process.versions.electron,
    chrome: process.versions.chrome,
    node: process.versions.node,
  },
};

contextBridge.exposeInMainWorld('station', info);
