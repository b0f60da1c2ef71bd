// Labels the views share that come from the station's enums: a line's status in the UI's language, with
// the station's own detail (an error's reason, in the station's words) after it when there is one.
import type { LineSummary } from '../../../common/api';
import { t } from './index';

export function lineStatus(l: Pick<LineSummary, 'status' | 'statusText'>): string {
  const label = t(`common.lineStatus.${l.status}`);
  const detail = l.statusText.trim();
  return detail && detail !== l.status ? `${label}: ${detail}` : label;
}

/**
 * A training job's phase in the UI's language. The station names its phases in English ('starting',
 * 'loading images', 'training', 'resuming after epoch 3', 'calibrating', 'extracting features', 'choosing
 * the coreset'): those are translated by their first word; anything else shows as the station wrote it;
 * none yet reads as starting.
 */
export function phaseLabel(phase: string): string {
  if (!phase.trim()) return t('common.phase.starting'); // no phase reported yet
  const resuming = /^resuming after epoch (\d+)/.exec(phase);
  if (resuming) return t('common.phase.resuming', { epoch: Number(resuming[1]) });
  const words = ['starting', 'loading', 'training', 'calibrating', 'extracting', 'choosing'] as const;
  const first = phase.trim().split(/\s+/)[0]?.toLowerCase();
  const word = words.find((w) => w === first);
  return word ? t(`common.phase.${word}`) : phase;
}
