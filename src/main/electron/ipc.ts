// The StationApi over Electron IPC, written against the few Electron surfaces it needs (ipcMain.handle, a
// webContents to send events to, the protocol handler's Request) so it runs, and is tested, in plain Node.
// The preload (src/preload/bridge.ts) is its other half.
import {
  IMAGE_KINDS,
  IPC_CALL,
  IPC_EVENT,
  REPORT_FILE_NAME,
  StationError,
  isApiMethod,
  parseRequest,
  type ImageKind,
  type IpcReply,
  type StationApi,
  type StationEvent,
} from '../../common/api';

/** The part of Electron's IpcMain this transport uses. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcCallEvent, ...args: unknown[]) => Promise<IpcReply>): void;
  removeHandler(channel: string): void;
}

/** The part of an IpcMainInvokeEvent we look at: which frame asked. */
export interface IpcCallEvent {
  senderFrame: { url: string } | null;
}

/**
 * Answer `station:call` (method, payload) from trusted frames only: every payload is validated with the
 * StationApi's zod schema here, in main, whatever the preload did.
 */
export function serveIpc(
  ipc: IpcMainLike,
  api: StationApi,
  isTrustedUrl: (url: string) => boolean,
): () => void {
  ipc.handle(IPC_CALL, async (event, method, payload): Promise<IpcReply> => {
    try {
      const url = event.senderFrame?.url ?? '';
      if (!isTrustedUrl(url))
        throw new StationError(`IPC from an untrusted page refused: ${url}`, 'unauthorized');
      if (typeof method !== 'string' || !isApiMethod(method))
        throw new StationError(`unknown method: ${String(method)}`, 'invalid');
      const req = parseRequest(method, payload);
      const call = api[method] as (r: unknown) => Promise<unknown>;
      return { ok: true, value: await call.call(api, req) };
    } catch (e) {
      const err = e instanceof StationError ? e : new StationError((e as Error).message, 'internal');
      return { ok: false, error: { code: err.code, message: err.message } };
    }
  });
  return () => ipc.removeHandler(IPC_CALL);
}

/** Forward station events to the window (while it exists); returns the unsubscribe. */
export function forwardEvents(
  api: Pick<StationApi, 'onEvent'>,
  target: () => { isDestroyed(): boolean; send(channel: string, e: StationEvent): void } | null,
): () => void {
  return api.onEvent((e) => {
    const wc = target();
    if (wc && !wc.isDestroyed()) wc.send(IPC_EVENT, e);
  });
}

const STATUS: Record<StationError['code'], number> = {
  invalid: 400,
  unauthorized: 401,
  refused: 403,
  'not-found': 404,
  internal: 500,
};

/**
 * The station:// protocol: `station://image/<inspectionId>/<kind>` (resolved through the database by id) and
 * `station://report/<name>` (a report the station exported, by its name), never a path from the renderer.
 * Anything else is a 400/404.
 */
export async function protocolResponse(
  api: Pick<StationApi, 'getImage' | 'getReportFile'>,
  url: string,
): Promise<Response> {
  const image = /^station:\/\/image\/(\d{1,15})\/([a-z]+)$/.exec(url);
  const report = /^station:\/\/report\/([^/?#]+)$/.exec(url);
  const kind = image?.[2];
  try {
    if (image && IMAGE_KINDS.includes(kind as ImageKind)) {
      const img = await api.getImage({ inspectionId: Number(image[1]), kind: kind as ImageKind });
      return new Response(img.data as Uint8Array<ArrayBuffer>, {
        headers: { 'Content-Type': img.contentType, 'Cache-Control': 'private, max-age=31536000, immutable' },
      });
    }
    if (report && REPORT_FILE_NAME.test(report[1])) {
      const file = await api.getReportFile({ name: report[1] });
      return new Response(file.data as Uint8Array<ArrayBuffer>, {
        headers: {
          'Content-Type': file.contentType,
          'Content-Disposition': `attachment; filename="${report[1]}"`,
        },
      });
    }
    return new Response(`not a station URL: ${url}`, { status: 400 });
  } catch (e) {
    const code = e instanceof StationError ? e.code : 'internal';
    return new Response((e as Error).message, { status: STATUS[code] });
  }
}
