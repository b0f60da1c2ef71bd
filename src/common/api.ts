// The contract between the Electron main process, the preload bridge and the renderer.
//
// Today the preload exposes only `StationInfo` (which shell the UI runs in). The full `StationApi`
// (live station, review queue, models, settings) lands here with the station-core issue, together
// with its IPC transport; main, preload and renderer all import their types from this one file.

/** Which host the renderer runs in: the Electron shell, or a plain browser (dev/CLI fallback). */
export type StationShell = 'electron' | 'browser';

/** What the preload bridge exposes on `window.station` for now. */
export interface StationInfo {
  readonly shell: 'electron';
  readonly versions: {
    readonly electron: string;
    readonly chrome: string;
    readonly node: string;
  };
}

/** The name shown in window titles and the UI. */
export const PRODUCT_NAME = 'Anomaly Station';
