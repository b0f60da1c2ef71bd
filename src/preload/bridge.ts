// The renderer's StationApi over Electron IPC: one `invoke` per method on the single `station:call` channel,
// events from `station:event`. Kept apart from index.ts (which only hands it the real ipcRenderer) so it is
// tested in Node with a fake.
import {
  API_METHODS,
  IPC_CALL,
  IPC_EVENT,
  StationError,
  type IpcReply,
  type StationApi,
  type StationEvent,
} from '../common/api';

export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, payload: unknown) => void): void;
  removeListener(channel: string, listener: (event: unknown, payload: unknown) => void): void;
}

export function createStationBridge(ipc: IpcRendererLike): StationApi {
  const api: Record<string, unknown> = {
    onEvent(listener: (e: StationEvent) => void) {
      // Only the event is passed on: the renderer never sees Electron's event object (it holds the sender).
      const wrapped = (_event: unknown, payload: unknown) => listener(payload as StationEvent);
      ipc.on(IPC_EVENT, wrapped);
      return () => ipc.removeListener(IPC_EVENT, wrapped);
    },
  };
  for (const method of API_METHODS) {
    api[method] = async (req: unknown) => {
      const reply = (await ipc.invoke(IPC_CALL, method, req ?? {})) as IpcReply;
      if (!reply.ok) throw new StationError(reply.error.message, reply.error.code);
      return reply.value;
    };
  }
  // Frozen: the page cannot swap a method for its own.
  return Object.freeze(api) as unknown as StationApi;
}
