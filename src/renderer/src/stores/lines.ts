// Lines and what they are doing right now: status, today's counters, the latest results and throughput.
// Kept current by station events (inspection, line-status); loaded once, never polled.
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { Inspection, LineSummary, Requests } from '../../../common/api';
import { station } from '../station';
import { attempt } from './session';

/** Results kept per line for the strip of recent results. */
const RECENT = 24;
/** Throughput window (ms). */
const WINDOW_MS = 60_000;

export const useLines = defineStore('lines', () => {
  const lines = ref<LineSummary[]>([]);
  const recent = ref<Record<number, Inspection[]>>({});
  const arrivals = ref<Record<number, number[]>>({});
  const now = ref(Date.now());
  const loaded = ref(false);
  setInterval(() => (now.value = Date.now()), 5_000);

  const byId = computed(() => new Map(lines.value.map((l) => [l.id, l])));

  /** Images per minute over the last minute, per line. */
  function throughput(lineId: number): number {
    const since = now.value - WINDOW_MS;
    return (arrivals.value[lineId] ?? []).filter((t) => t >= since).length;
  }

  async function load(): Promise<void> {
    await attempt('lines', async () => {
      lines.value = await station.listLines({});
      const latest = await Promise.all(
        lines.value.map((l) => station.latestInspections({ lineId: l.id, limit: RECENT })),
      );
      recent.value = Object.fromEntries(lines.value.map((l, i) => [l.id, latest[i]]));
      loaded.value = true;
    });
  }

  function upsert(line: LineSummary): void {
    const i = lines.value.findIndex((l) => l.id === line.id);
    if (line.status === 'removed') lines.value = lines.value.filter((l) => l.id !== line.id);
    else if (i < 0) lines.value = [...lines.value, line];
    else lines.value = lines.value.map((l) => (l.id === line.id ? line : l));
  }

  station.onEvent((e) => {
    if (e.type === 'line-status') upsert(e.line);
    if (e.type === 'inspection') {
      const i = e.inspection;
      recent.value = { ...recent.value, [i.lineId]: [i, ...(recent.value[i.lineId] ?? [])].slice(0, RECENT) };
      const t = Date.now();
      arrivals.value = {
        ...arrivals.value,
        [i.lineId]: [...(arrivals.value[i.lineId] ?? []).filter((x) => x >= t - WINDOW_MS), t],
      };
      const line = byId.value.get(i.lineId);
      if (line) upsert({ ...line, counts: { ...line.counts, [i.verdict]: line.counts[i.verdict] + 1 } });
    }
  });

  const add = (req: Requests['addLine']) =>
    attempt('add line', async () => {
      const l = await station.addLine(req);
      upsert(l);
      return l;
    });
  const update = (req: Requests['updateLine']) =>
    attempt('update line', async () => {
      const l = await station.updateLine(req);
      upsert(l);
      return l;
    });
  const setState = (id: number, state: 'active' | 'paused') =>
    attempt('pause/resume', async () => upsert(await station.setLineState({ id, state })));
  const remove = (id: number) =>
    attempt('remove line', async () => {
      await station.removeLine({ id });
      lines.value = lines.value.filter((l) => l.id !== id);
    });

  return { lines, recent, loaded, byId, throughput, load, add, update, setState, remove };
});
