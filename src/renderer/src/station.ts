// Which StationApi the UI talks to: the Electron preload's (IPC) when present, else the station that served
// this page, over HTTP + WebSocket. Both are the same typed interface; only image URLs differ.
import type { ImageKind, StationApi } from '../../common/api';
import { connectHttp } from '../../common/http-client';

declare global {
  interface Window {
    /** Set by the Electron preload bridge; absent when the UI runs in a plain browser. */
    readonly station?: StationApi;
  }
}

interface Connection {
  api: StationApi;
  imageUrl: (id: number, kind: ImageKind) => string;
  reportUrl: (name: string) => string;
}

function connect(): Connection {
  if (window.station) {
    return {
      api: window.station,
      imageUrl: (id, kind) => `station://image/${id}/${kind}`,
      reportUrl: (name) => `station://report/${encodeURIComponent(name)}`,
    };
  }
  // A station served off loopback needs its token: open the page as http://host:port/?token=...
  const token = new URLSearchParams(location.search).get('token') ?? undefined;
  const http = connectHttp(location.origin, token);
  return {
    api: http,
    imageUrl: (id, kind) => http.imageUrl(id, kind),
    reportUrl: (name) => http.reportUrl(name),
  };
}

const connection = connect();
export const station: StationApi = connection.api;
export const imageUrl = connection.imageUrl;
export const reportUrl = connection.reportUrl;
export const shell: 'electron' | 'browser' = window.station ? 'electron' : 'browser';

/** A message fit to show a person, from anything a call may throw. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
