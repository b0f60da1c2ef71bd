// The StationApi over HTTP + WebSocket, for a renderer in a plain browser and for tests: the same typed
// interface as the Electron preload's, so the renderer never knows which transport it runs on.
import {
  API_METHODS,
  StationError,
  type ApiMethod,
  type ImageKind,
  type StationApi,
  type StationEvent,
} from './api';

export interface HttpStationApi extends StationApi {
  /** URL an <img> can load for an inspection's image (the token rides along when one is set). */
  imageUrl(inspectionId: number, kind: ImageKind): string;
  /** URL that downloads an exported report. */
  reportUrl(name: string): string;
  close(): void;
}

export function connectHttp(baseUrl: string, token?: string): HttpStationApi {
  const base = baseUrl.replace(/\/$/, '');
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  const listeners = new Set<(e: StationEvent) => void>();
  let socket: WebSocket | undefined;
  let closed = false;

  const openSocket = () => {
    if (socket || closed) return;
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/events${q}`);
    socket = ws;
    ws.onmessage = (m) => {
      const e = JSON.parse(String(m.data)) as StationEvent;
      listeners.forEach((l) => l(e));
    };
    ws.onclose = () => {
      socket = undefined;
      // Reconnect while anyone listens (a station restart must not leave the UI deaf).
      if (!closed && listeners.size) setTimeout(openSocket, 1000);
    };
  };

  const call = async (method: ApiMethod, req: unknown): Promise<unknown> => {
    const res = await fetch(`${base}/api/${method}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(req ?? {}),
    });
    const body = (await res.json()) as { error?: { code: StationError['code']; message: string } };
    if (!res.ok)
      throw new StationError(body.error?.message ?? `HTTP ${res.status}`, body.error?.code ?? 'internal');
    return body;
  };

  const api: Record<string, unknown> = {
    onEvent(listener: (e: StationEvent) => void) {
      listeners.add(listener);
      openSocket();
      return () => {
        listeners.delete(listener);
        if (!listeners.size) socket?.close();
      };
    },
    imageUrl: (id: number, kind: ImageKind) => `${base}/api/image/${id}/${kind}${q}`,
    reportUrl: (name: string) => `${base}/api/report/${encodeURIComponent(name)}${q}`,
    close() {
      closed = true;
      socket?.close();
    },
  };
  // Binary results are plain GETs (an <img> or a download link can use the same URLs).
  const getBytes = async (path: string): Promise<Uint8Array> => {
    const res = await fetch(`${base}${path}`, { headers });
    if (!res.ok) {
      const body = (await res.json()) as { error?: { code: StationError['code']; message: string } };
      throw new StationError(body.error?.message ?? `HTTP ${res.status}`, body.error?.code ?? 'internal');
    }
    return new Uint8Array(await res.arrayBuffer());
  };
  for (const m of API_METHODS) api[m] = (req: unknown) => call(m, req);
  api.getImage = async (req: { inspectionId: number; kind: ImageKind }) => ({
    contentType: 'image/png',
    data: await getBytes(`/api/image/${req.inspectionId}/${req.kind}`),
  });
  api.getReportFile = async (req: { name: string }) => ({
    contentType: req.name.endsWith('.pdf') ? 'application/pdf' : 'text/csv',
    data: await getBytes(`/api/report/${encodeURIComponent(req.name)}`),
  });
  return api as unknown as HttpStationApi;
}
