// Progress bars for long CLI work (on stderr, so stdout stays clean for results and pipes).
import cliProgress from 'cli-progress';
import type { TrainProgress } from '../../ml';

export class Progress {
  private bar?: cliProgress.SingleBar;
  private readonly enabled = process.stderr.isTTY === true && !process.env.CI;
  private lastLine = 0;

  phase(name: string, total?: number): void {
    this.done();
    if (!total) {
      console.error(`${name}...`);
      return;
    }
    if (!this.enabled) {
      console.error(`${name} (${total})...`);
      return;
    }
    this.bar = new cliProgress.SingleBar(
      {
        format: `${name.padEnd(20)} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} {extra}`,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0, { extra: '' });
  }

  update(done: number, extra = ''): void {
    this.bar?.update(done, { extra });
  }

  train(p: TrainProgress): void {
    const total = p.stepsPerEpoch;
    const extra = `epoch ${p.epoch}/${p.epochs} ${p.imagesPerSecond.toFixed(1)} img/s, run ETA ${formatSeconds(p.etaSeconds)}`;
    if (!this.enabled) {
      // Without a terminal: a line every 10 s keeps logs readable.
      if (Date.now() - this.lastLine > 10_000) {
        this.lastLine = Date.now();
        console.error(`  step ${p.step}/${total} ${extra}`);
      }
      return;
    }
    if (!this.bar) this.phase(`epoch ${p.epoch}`, total);
    this.update(p.step, extra);
  }

  /** Memory-bank fitting: one bar per phase (feature extraction, then the coreset). */
  private fitPhase = '';
  fit(p: { phase: string; done: number; total: number }): void {
    if (p.phase !== this.fitPhase) {
      this.fitPhase = p.phase;
      this.phase(p.phase, p.total);
    }
    if (!this.enabled) {
      if (Date.now() - this.lastLine > 10_000) {
        this.lastLine = Date.now();
        console.error(`  ${p.phase} ${p.done}/${p.total}`);
      }
      return;
    }
    this.update(p.done);
  }

  done(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}
