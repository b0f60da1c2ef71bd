// Model updates from operators' feedback: what an update would learn from, the updates themselves (kept current
// by model-update events: progress, then the comparison), activation, discard and a model's lineage. The
// update runs in the station's worker; nothing heavy runs in this window.
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { Lineage, ModelUpdate, Requests, UpdatePreview } from '../../../common/api';
import { t } from '../i18n';
import { station } from '../station';
import { useLines } from './lines';
import { useModels } from './models';
import { attempt, useSession } from './session';

/** A period chosen in History for an update of a line's model. */
export interface UpdatePrefill {
  lineId: number;
  modelId: number;
  from?: string;
  to?: string;
}

export const useUpdates = defineStore('updates', () => {
  const updates = ref<ModelUpdate[]>([]);
  const lineages = ref<Record<number, Lineage>>({});
  const prefill = ref<UpdatePrefill | null>(null);
  const models = useModels();

  const running = computed(() => updates.value.filter((u) => u.state === 'running'));

  function upsert(u: ModelUpdate): void {
    // A job's key changes from job-<id> to model-<child> when its child is made: match on either.
    const same = (x: ModelUpdate) => x.key === u.key || (u.jobId !== null && x.jobId === u.jobId);
    updates.value = updates.value.some(same)
      ? updates.value.map((x) => (same(x) ? u : x))
      : [u, ...updates.value];
  }

  async function load(): Promise<void> {
    await attempt('updates', async () => (updates.value = await station.listModelUpdates({})));
  }

  station.onEvent((e) => {
    if (e.type !== 'model-update') return;
    upsert(e.update);
    // A child was made, activated or discarded: the registry (parent, generation, status) changed.
    if (e.update.state !== 'running') {
      void models.load();
      if (e.update.childId !== null) delete lineages.value[e.update.childId];
    }
  });

  const preview = (req: Requests['previewModelUpdate']): Promise<UpdatePreview | undefined> =>
    attempt('updatePreview', () => station.previewModelUpdate(req));

  async function start(req: Requests['startModelUpdate']): Promise<ModelUpdate | undefined> {
    const u = await attempt('startUpdate', () => station.startModelUpdate(req));
    if (u) {
      upsert(u);
      useSession().notify(
        t('update.startedNotice', { model: u.name, n: u.selection.added + u.selection.heldOut }),
        'info',
      );
    }
    return u;
  }

  async function cancel(jobId: number): Promise<void> {
    const u = await attempt('cancelUpdate', () => station.cancelModelUpdate({ jobId }));
    if (u) upsert(u);
  }

  /** Put a model on a line (a child after its comparison, or its parent again: undo). */
  async function activate(lineId: number, modelId: number): Promise<boolean> {
    const line = await attempt('activate', () => station.activateModel({ lineId, modelId }));
    if (!line) return false;
    await Promise.all([useLines().load(), models.load()]);
    useSession().notify(t('update.activated', { line: line.name, model: line.modelName }), 'info');
    return true;
  }

  async function discard(modelId: number): Promise<void> {
    const u = await attempt('discard', () => station.discardModelUpdate({ modelId }));
    if (u) {
      upsert(u);
      useSession().notify(t('update.discardedNotice', { model: u.name }), 'info');
    }
  }

  async function lineage(modelId: number): Promise<Lineage | undefined> {
    const l = await attempt('lineage', () => station.getLineage({ modelId }));
    if (l) lineages.value = { ...lineages.value, [modelId]: l };
    return l;
  }

  return { updates, running, lineages, prefill, load, preview, start, cancel, activate, discard, lineage };
});
