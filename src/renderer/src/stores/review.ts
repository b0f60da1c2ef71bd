// The review queue: flagged, unreviewed inspections one at a time. A decision is appended; "undo" goes back
// to the last decided part and the next decision on it is appended as a correction of the earlier one
// (the audit trail never loses or edits a decision).
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { Decision, Inspection, InspectionDetail } from '../../../common/api';
import { errorText, station } from '../station';
import { failed, useSession } from './session';

export const useReview = defineStore('review', () => {
  const queue = ref<Inspection[]>([]);
  const index = ref(0);
  const detail = ref<InspectionDetail | null>(null);
  /** Decisions made in this session, most recent last: what undo walks back through. */
  const made = ref<Decision[]>([]);
  /** Set by undo: the decision the next one on this inspection corrects. */
  const correcting = ref<Decision | null>(null);
  const busy = ref(false);

  const current = computed(() => (correcting.value ? detail.value : (queue.value[index.value] ?? null)));

  async function open(id: number | undefined): Promise<void> {
    detail.value = id === undefined ? null : await station.getInspection({ id });
  }

  async function load(): Promise<void> {
    try {
      queue.value = await station.reviewQueue({ limit: 500 });
      index.value = Math.min(index.value, Math.max(0, queue.value.length - 1));
      if (!correcting.value) await open(queue.value[index.value]?.id);
    } catch (e) {
      useSession().notify(failed('reviewQueue', e));
    }
  }

  station.onEvent((e) => {
    if (e.type !== 'inspection' || e.inspection.verdict !== 'flag') return;
    queue.value = [...queue.value, e.inspection];
    if (queue.value.length === 1 && !correcting.value) void open(e.inspection.id);
  });

  const move = (step: number) =>
    serial(async () => {
      if (correcting.value) return;
      const next = index.value + step;
      if (next < 0 || next >= queue.value.length) return;
      index.value = next;
      await open(queue.value[next].id);
    });

  // Keys can come faster than the station answers: decisions, undo and moves run one after another, in the
  // order they were pressed, each on the state the previous one left.
  let pendingKeys: Promise<unknown> = Promise.resolve();
  function serial<T>(step: () => Promise<T>): Promise<T> {
    const next = pendingKeys.then(step, step);
    pendingKeys = next.catch(() => undefined);
    return next;
  }

  const decide = (decision: 'defect' | 'false_alarm', comment: string) =>
    serial(() => decideNow(decision, comment));

  async function decideNow(decision: 'defect' | 'false_alarm', comment: string): Promise<boolean> {
    const item = current.value;
    if (!item) return false;
    busy.value = true;
    try {
      const d = await station.decide({
        inspectionId: item.id,
        decision,
        comment: comment.trim() || undefined,
        correctsDecisionId: correcting.value?.id,
      });
      made.value = [...made.value, d];
      if (correcting.value) correcting.value = null;
      else queue.value = queue.value.filter((q) => q.id !== item.id);
      index.value = Math.min(index.value, Math.max(0, queue.value.length - 1));
      await open(queue.value[index.value]?.id);
      return true;
    } catch (e) {
      useSession().notify(errorText(e));
      return false;
    } finally {
      busy.value = false;
    }
  }

  /** Go back to the last decision made here; the next decision on that part corrects it. */
  const undo = () =>
    serial(async () => {
      const last = made.value.at(-1);
      if (!last || correcting.value) return;
      made.value = made.value.slice(0, -1);
      correcting.value = last;
      await open(last.inspectionId);
    });

  function cancelCorrection(): void {
    correcting.value = null;
    void open(queue.value[index.value]?.id);
  }

  return {
    queue,
    index,
    detail,
    current,
    made,
    correcting,
    busy,
    load,
    move,
    decide,
    undo,
    cancelCorrection,
  };
});
