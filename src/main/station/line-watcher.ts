// Watches one line's camera folder with chokidar and reports image files once they have finished writing.
// The initial scan reports files already there (the start-up catch-up; the database drops what was scored).
// The folder is checked every second: if it disappears (unmounted share, renamed) the line says so and the
// watcher restarts when it comes back, rescanning what arrived meanwhile. Never writes to the folder.
import { statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { hasImageExtension } from '../io/images';

export type WatchStatus = 'starting' | 'watching' | 'missing' | 'error';

export interface LineWatcherOptions {
  folder: string;
  recursive: boolean;
  /** Folders never reported (the station's own data dir). */
  exclude: string[];
  onFile: (path: string) => void;
  /** `text` says the status in words; it does not repeat the folder (every line shows its folder already). */
  onStatus: (status: WatchStatus, text: string) => void;
  /** awaitWriteFinish stability window (ms). Default 400. */
  settleMs?: number;
  /** Folder existence check period (ms). Default 1000. */
  checkMs?: number;
}

export class LineWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private status: WatchStatus = 'starting';
  private closed = false;
  private readonly folder: string;

  constructor(private readonly o: LineWatcherOptions) {
    this.folder = resolve(o.folder);
  }

  /** The watcher's own view (the line may show an error on top of it, e.g. its model failed). */
  get state(): WatchStatus {
    return this.status;
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.o.checkMs ?? 1000);
    this.timer.unref();
  }

  private setStatus(s: WatchStatus, text: string): void {
    if (s === this.status && s !== 'error') return;
    this.status = s;
    this.o.onStatus(s, text);
  }

  private check(): void {
    if (this.closed) return;
    let isDir: boolean;
    try {
      isDir = statSync(this.folder).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) {
      if (this.status !== 'missing') {
        void this.stopWatcher();
        this.setStatus('missing', 'folder not found (waiting for it to come back)');
      }
      return;
    }
    if (!this.watcher) this.startWatcher();
  }

  private excluded(path: string): boolean {
    const p = resolve(path);
    return this.o.exclude.some((d) => p === d || p.startsWith(d + sep));
  }

  private startWatcher(): void {
    const settle = this.o.settleMs ?? 400;
    const w = watch(this.folder, {
      ignoreInitial: false,
      // A symlink is reported as the file it is; links are not followed into other folders (no loops).
      followSymlinks: false,
      depth: this.o.recursive ? 32 : 0,
      awaitWriteFinish: { stabilityThreshold: settle, pollInterval: Math.max(50, settle / 4) },
      ignorePermissionErrors: false,
      ignored: (p, stats) => this.excluded(p) || (stats?.isFile() === true && !hasImageExtension(p)),
    });
    this.watcher = w;
    const report = (p: string) => {
      if (!this.excluded(p) && hasImageExtension(p)) this.o.onFile(resolve(p));
    };
    w.on('add', report);
    w.on('change', report);
    w.on('ready', () => this.setStatus('watching', 'watching'));
    w.on('error', (e) => this.setStatus('error', `watch error: ${(e as Error).message}`));
  }

  private async stopWatcher(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.stopWatcher();
  }
}
