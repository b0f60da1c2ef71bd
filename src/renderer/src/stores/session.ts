// The shift: which station this is (backend, shell, data dir), who is signed in, and messages for the user.
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { Operator, StationInfo } from '../../../common/api';
import { t } from '../i18n';
import { errorText, station } from '../station';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

export const useSession = defineStore('session', () => {
  const info = ref<StationInfo | null>(null);
  const operator = ref<Operator | null>(null);
  const notices = ref<Notice[]>([]);
  const connected = ref(true);
  let nextNotice = 1;

  function notify(text: string, kind: Notice['kind'] = 'error'): void {
    const n = { id: nextNotice++, kind, text };
    notices.value = [...notices.value.slice(-4), n];
    setTimeout(() => dismiss(n.id), kind === 'error' ? 12_000 : 4_000);
  }
  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id);
  }

  async function load(): Promise<void> {
    try {
      info.value = await station.getInfo({});
      operator.value = info.value.operator;
      connected.value = true;
    } catch (e) {
      connected.value = false;
      notify(t('notice.unreachable', { error: errorText(e) }));
    }
  }

  async function signIn(name: string, badge?: string): Promise<boolean> {
    try {
      operator.value = await station.signIn({ name, badge: badge || undefined });
      notify(t('notice.signedIn', { name: operator.value.name }), 'info');
      return true;
    } catch (e) {
      notify(errorText(e));
      return false;
    }
  }

  station.onEvent((e) => {
    if (e.type === 'error') notify(e.message);
  });

  return { info, operator, notices, connected, notify, dismiss, load, signIn };
});

/** What a station call was doing, as its failure notice names it (keys of `notice.what`). */
export type Attempt =
  | 'lines'
  | 'addLine'
  | 'updateLine'
  | 'pauseResume'
  | 'removeLine'
  | 'models'
  | 'startTraining'
  | 'cancel'
  | 'resume'
  | 'calibration'
  | 'evaluate'
  | 'registerModel'
  | 'outputs'
  | 'mqttOutput'
  | 'opcuaServer'
  | 'removeOutput'
  | 'trustClient'
  | 'reviewQueue'
  | 'history'
  | 'reportPreview'
  | 'reportExport'
  | 'updates'
  | 'updatePreview'
  | 'startUpdate'
  | 'cancelUpdate'
  | 'activate'
  | 'discard'
  | 'lineage';

/** A failure notice: what was being done, in the UI's language, then the station's own message. */
export function failed(what: Attempt, e: unknown): string {
  return t('notice.failed', { what: t(`notice.what.${what}`), error: errorText(e) });
}

/** Run a station call; on failure tell the user (prefixed with what was being done) and give undefined. */
export async function attempt<T>(what: Attempt, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (e) {
    useSession().notify(failed(what, e));
    return undefined;
  }
}
