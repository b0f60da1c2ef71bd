// Lines and what they are doing right now: status, today's counters, the latest results and throughput.
// Kept current by station events (inspection, line-status); loaded once, never polled. The rate starts
// from the station's database (its counts for the last minutes), and each new inspection adds to it.
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { THROUGHPUT_BUCKET_MS, type Inspection, type LineSummary, type Requests } from '../../../common/api';
import { station } from '../station';
import { RATE_WINDOW_MS, ratePerMinute } from '../throughput';
import { attempt } from './session';

/** Results kept per line for the strip of recent results. */
const RECENT = 24;

export const useLines = defineStore('lines', () => {
  const lines = ref<LineSummary[]>([]);
  const recent = ref<Record<number, Inspection[]>>({});
  /** Per line: inspections per time bucket (bucket start, epoch ms, on the station's clock -> count). */
  const buckets = ref<Record<number, Record<number, number>>>({});
  let bucketMs = THROUGHPUT_BUCKET_MS;
  /** Station clock minus this page's clock (the station may run on another machine). */
  let clockOffset = 0;
  const now = ref(Date.now());
  const loaded = ref(false);
  // The rate falls when images stop coming: re-read it against the clock, without asking the station.
  setInterval(() => (now.value = Date.now()), 5_000);

  const byId = computed(() => new Map(lines.value.map((l) => [l.id, l])));

  /** Images per minute over the last RATE_WINDOW_MS, per line. */
  function throughput(lineId: number): number {
    const counts = Object.entries(buckets.value[lineId] ?? {}).map(([k, n]) => [Number(k), n] as const);
    return ratePerMinute(counts, now.value + clockOffset, bucketMs);
  }

  function count(lineId: number, scoredAt: string): void {
    const t = Date.parse(scoredAt);
    // An event is sent after its row is written: the station's clock is at least its scoring time.
    clockOffset = Math.max(clockOffset, t - Date.now());
    const start = Math.floor(t / bucketMs) * bucketMs;
    const keep = Date.now() + clockOffset - RATE_WINDOW_MS - bucketMs;
    const mine = Object.entries(buckets.value[lineId] ?? {}).filter(([k]) => Number(k) >= keep);
    const next: Record<number, number> = Object.fromEntries(mine);
    next[start] = (next[start] ?? 0) + 1;
    buckets.value = { ...buckets.value, [lineId]: next };
    now.value = Date.now();
  }

  async function load(): Promise<void> {
    await attempt('lines', async () => {
      const asked = Date.now();
      const [all, rates] = await Promise.all([
        station.listLines({}),
        station.throughput({ seconds: RATE_WINDOW_MS / 1000 }),
      ]);
      lines.value = all;
      // The station's clock when it counted, against ours half-way through the call.
      clockOffset = rates.now - (asked + Date.now()) / 2;
      bucketMs = rates.bucketMs;
      buckets.value = Object.fromEntries(
        rates.lines.map((l) => [l.lineId, Object.fromEntries(l.buckets.map((b) => [b.start, b.count]))]),
      );
      now.value = Date.now();
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
      count(i.lineId, i.scoredAt);
      const line = byId.value.get(i.lineId);
      if (line) upsert({ ...line, counts: { ...line.counts, [i.verdict]: line.counts[i.verdict] + 1 } });
    }
  });

  const add = (req: Requests['addLine']) =>
    attempt('addLine', async () => {
      const l = await station.addLine(req);
      upsert(l);
      return l;
    });
  const update = (req: Requests['updateLine']) =>
    attempt('updateLine', async () => {
      const l = await station.updateLine(req);
      upsert(l);
      return l;
    });
  const setState = (id: number, state: 'active' | 'paused') =>
    attempt('pauseResume', async () => upsert(await station.setLineState({ id, state })));
  const remove = (id: number) =>
    attempt('removeLine', async () => {
      await station.removeLine({ id });
      lines.value = lines.value.filter((l) => l.id !== id);
    });

  return { lines, recent, loaded, byId, throughput, load, add, update, setState, remove };
});
