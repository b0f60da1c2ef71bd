// How a model's lineage reads as one sentence ("v3 = v2 + 37 false alarms reviewed by ... between ... and ..."),
// shared by the audit report, the CLI and the UI so all three say the same. English; the data behind it is
// in LineageEntry for anyone who needs another wording.
import type { LineageEntry } from './api';

/**
 * Memory banks: the largest share of the bank's rows one update may add. Half: about 1000 rows at PatchCore's
 * default bank of 2000, the headroom this guard rail had when the default bank was 4000 rows and the cap a
 * quarter. On bench:update's generated drifted lot (100 new parts) a quarter (500 rows) bound and cost the
 * child recall: 82% of unseen defects against 90% at a half.
 */
export const DEFAULT_MAX_BANK_GROWTH = 0.5;

/** "2026-03-04 07:15 UTC": minutes are enough to find the decisions, and the zone is said. */
export function lineageTime(iso: string | null): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '–';
}

/** A list of names: "Ann", "Ann and Bob", "Ann, Bob and Cy". */
export function namesList(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? 'nobody';
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** A model as the sentence names it: name, generation and the start of its version hash. */
function modelLabel(name: string | null, version: string | null, generation: number): string {
  return `${name ?? '?'} (generation ${generation}${version ? `, version ${version.slice(0, 8)}` : ''})`;
}

/**
 * One created record as a sentence, e.g. "board-u1 (generation 2, version 3f2a…) = board (generation 1, …) +
 * 37 false alarms reviewed by Ann and Bob between 2026-03-02 06:10 UTC and 2026-03-04 07:15 UTC on Line A
 * (6 more held out to calibrate it); asked by Eve on 2026-03-04 08:00 UTC".
 */
export function lineageSentence(e: LineageEntry): string {
  if (e.kind === 'activated')
    return `${e.modelName} activated on ${e.lineName ?? '?'} by ${e.operator} on ${lineageTime(e.at)}`;
  if (e.kind === 'discarded') return `${e.modelName} discarded by ${e.operator} on ${lineageTime(e.at)}`;
  const how = e.method === 'fine-tune' ? 'fine-tuned on' : '';
  return (
    `${modelLabel(e.modelName, e.modelVersion, e.generation)} = ` +
    `${modelLabel(e.parentName, e.parentVersion, e.generation - 1)} + ${how ? `${how} ` : ''}` +
    `${e.added} false alarm${e.added === 1 ? '' : 's'} reviewed by ${namesList(e.reviewers)} ` +
    `between ${lineageTime(e.decidedFrom)} and ${lineageTime(e.decidedTo)}` +
    `${e.lineName ? ` on ${e.lineName}` : ''}` +
    `${e.heldOut ? ` (${e.heldOut} more held out to calibrate it)` : ''}; ` +
    `asked by ${e.operator} on ${lineageTime(e.at)}`
  );
}
