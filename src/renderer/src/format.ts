// How numbers, times and file names are shown across views.
import type { Inspection } from '../../common/api';

export const fileName = (path: string): string => path.split(/[\\/]/).pop() ?? path;
/** A raw score: 4 significant digits (scores span orders of magnitude between methods). */
export const score = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toPrecision(4);
export const time = (iso: string): string => new Date(iso).toLocaleTimeString();
export const dateTime = (iso: string): string => new Date(iso).toLocaleString();
export const verdictLabel = (v: Inspection['verdict']): string =>
  ({ pass: 'PASS', flag: 'FLAG', error: 'ERROR' })[v];
export const decisionLabel = (d: Inspection['decision']): string =>
  d === 'defect' ? 'confirmed defect' : d === 'false_alarm' ? 'false alarm' : '';
/** A path cut after each separator (/ or \), so it can wrap there: "/a/b.png" -> ["/", "a/", "b.png"]. */
export const pathParts = (path: string): string[] => path.match(/[^\\/]*[\\/]+|[^\\/]+$/g) ?? [path];
