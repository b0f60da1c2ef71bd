// Number and time formats shared by the Models view's panels, so every panel writes a score, a metric and
// a time the same way, in the UI's language (../../i18n/format).
import { fixed } from '../../i18n/format';
export { fixed, int, percent, score, when } from '../../i18n/format';

/** AUROC, AUPRC, F1: three decimals, as papers and `station eval` print them. */
export function metric(x: number | null | undefined): string {
  return fixed(x, 3);
}

/** Seconds as mm:ss (minutes keep counting past 59: a long run reads 125:03). */
export function mmss(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** Enough of a sha256 to tell two training sets apart at a glance; the full one is in the title. */
export function shortHash(h: string | null | undefined): string {
  return h ? h.slice(0, 10) : '—';
}

/** An absolute path on POSIX or Windows: the station resolves folders on its own machine, not ours. */
export function isAbsolutePath(p: string): boolean {
  return /^(\/|[A-Za-z]:[\\/]|\\\\)/.test(p.trim());
}

/**
 * Chart colours. Canvas cannot read CSS variables, so these mirror App.vue's --pass, --flag, --accent and
 * --muted.
 */
export const colors = {
  good: '#2f855a',
  defect: '#c53030',
  accent: '#2b6cb0',
  muted: '#52606d',
  series: ['#2b6cb0', '#c05621', '#6b46c1', '#2c7a7b', '#b83280', '#975a16'],
} as const;
