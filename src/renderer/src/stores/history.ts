// History: filtered inspections, paged with the station's keyset cursors (constant cost at any depth).
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { Inspection, InspectionDetail, Requests } from '../../../common/api';
import { station } from '../station';
import { failed, useSession } from './session';

export type HistoryFilters = Omit<Requests['queryInspections'], 'cursor' | 'limit'>;

export const useHistory = defineStore('history', () => {
  const filters = ref<HistoryFilters>({});
  const rows = ref<Inspection[]>([]);
  const total = ref(0);
  const pageSize = ref(50);
  /** Cursors of the pages before the current one (undefined = the first page), and the next page's. */
  const cursors = ref<(string | undefined)[]>([]);
  const cursor = ref<string | undefined>(undefined);
  const nextCursor = ref<string | null>(null);
  const selected = ref<InspectionDetail | null>(null);
  const loading = ref(false);

  /**
   * Load the page at `at` (the current page by default); the page's rows, its position (cursors) and the
   * count move together once the rows are here, so "151–200 of N" never shows over the previous page's rows.
   */
  async function fetchPage(
    at: { cursor: string | undefined; before: (string | undefined)[] } = {
      cursor: cursor.value,
      before: cursors.value,
    },
  ): Promise<void> {
    loading.value = true;
    try {
      const r = await station.queryInspections({
        ...filters.value,
        cursor: at.cursor,
        limit: pageSize.value,
      });
      cursor.value = at.cursor;
      cursors.value = at.before;
      rows.value = r.rows;
      total.value = r.total;
      nextCursor.value = r.nextCursor;
    } catch (e) {
      useSession().notify(failed('history', e));
    } finally {
      loading.value = false;
    }
  }

  async function search(f: HistoryFilters): Promise<void> {
    filters.value = f;
    await fetchPage({ cursor: undefined, before: [] });
  }

  async function next(): Promise<void> {
    if (!nextCursor.value) return;
    await fetchPage({ cursor: nextCursor.value, before: [...cursors.value, cursor.value] });
  }

  async function previous(): Promise<void> {
    if (!cursors.value.length) return;
    await fetchPage({ cursor: cursors.value.at(-1), before: cursors.value.slice(0, -1) });
  }

  async function select(id: number | null): Promise<void> {
    selected.value = id === null ? null : await station.getInspection({ id });
  }

  return {
    filters,
    rows,
    total,
    pageSize,
    cursors,
    nextCursor,
    selected,
    loading,
    search,
    next,
    previous,
    select,
    fetchPage,
  };
});
