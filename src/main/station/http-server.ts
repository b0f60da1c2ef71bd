// The HTTP + WebSocket transport of the StationApi: `station serve`, and `npm start` when Electron is absent.
//   POST /api/<method>              JSON request -> JSON response (validated with the shared schemas)
//   GET  /api/image/<id>/<kind>     PNG, looked up through the database by inspection id (never a path)
//   GET  /api/events  (WebSocket)   the event stream
//   GET  /api/report/<name>         an exported audit report (PDF/CSV), by the name the station gave it
//   GET  /*                         the built renderer (out/renderer), with a strict CSP
// Binds to 127.0.0.1 by default. Any other address requires a token (Authorization: Bearer, or ?token= for
// the WebSocket and images); on loopback the Host header must name loopback too (no DNS rebinding). A
// request from a web page of another origin is refused (its Origin header says so), and API calls must be
// application/json, which a page of another origin cannot send without a CORS preflight we never grant.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { isApiMethod, parseRequest, StationError, type StationApi } from '../../common/api';

export interface HttpServerOptions {
  host?: string;
  port?: number;
  /** Required unless host is loopback; when given on loopback it is required as well. */
  token?: string;
  /** Folder of the built renderer to serve at /. */
  staticDir?: string;
}

export interface RunningServer {
  url: string;
  token: string | null;
  server: Server;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const MAX_BODY = 1 << 20;
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'";

const STATUS: Record<StationError['code'], number> = {
  invalid: 400,
  unauthorized: 401,
  refused: 409,
  'not-found': 404,
  internal: 500,
};

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host);
}

export async function serveHttp(api: StationApi, o: HttpServerOptions = {}): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const loopback = isLoopback(host);
  if (!loopback && !o.token)
    throw new Error(`binding to ${host} (not loopback) requires a token (--token, at least 16 characters)`);
  if (o.token !== undefined && o.token.length < 16)
    throw new Error('the token must be at least 16 characters');
  const token = o.token ?? null;
  const staticDir = o.staticDir && existsSync(o.staticDir) ? resolve(o.staticDir) : undefined;

  const authorised = (req: IncomingMessage, url: URL): boolean => {
    if (loopback) {
      const h = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      if (!isLoopback(h)) return false;
    }
    if (!token) return true;
    const given =
      (req.headers.authorization ?? '').replace(/^Bearer /, '') || url.searchParams.get('token') || '';
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  /** Browsers send Origin on cross-site requests and WebSockets; it must be this server itself. */
  const sameOrigin = (req: IncomingMessage): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser page (CLI, tests, Electron's own requests)
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((e) => sendError(res, e));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://station');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (url.pathname.startsWith('/api/')) {
      if (!authorised(req, url)) throw new StationError('missing or wrong token', 'unauthorized');
      if (!sameOrigin(req))
        throw new StationError('requests from other web origins are refused', 'unauthorized');
      const image = /^\/api\/image\/(\d+)\/([a-z]+)$/.exec(url.pathname);
      if (image && req.method === 'GET') {
        const r = await api.getImage(
          parseRequest('getImage', { inspectionId: Number(image[1]), kind: image[2] }),
        );
        res.writeHead(200, {
          'Content-Type': r.contentType,
          'Cache-Control': 'private, max-age=86400, immutable',
        });
        res.end(r.data);
        return;
      }
      const report = /^\/api\/report\/([^/]+)$/.exec(url.pathname);
      if (report && req.method === 'GET') {
        const r = await api.getReportFile(parseRequest('getReportFile', { name: report[1] }));
        res.writeHead(200, {
          'Content-Type': r.contentType,
          'Content-Disposition': `attachment; filename="${report[1]}"`,
          'Cache-Control': 'no-store',
        });
        res.end(r.data);
        return;
      }
      const method = url.pathname.slice('/api/'.length);
      if (req.method !== 'POST' || !isApiMethod(method))
        throw new StationError(`no such API call: ${req.method} ${url.pathname}`, 'not-found');
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
        throw new StationError('API calls must be sent as application/json', 'invalid');
      const body = await readBody(req);
      let payload: unknown;
      try {
        payload = body.length ? JSON.parse(body) : {};
      } catch {
        throw new StationError('request body is not valid JSON', 'invalid');
      }
      const fn = api[method] as (r: unknown) => Promise<unknown>;
      const result = await fn.call(api, parseRequest(method, payload));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(result));
      return;
    }
    if (req.method !== 'GET' || !staticDir) throw new StationError('not found', 'not-found');
    let decoded: string;
    try {
      decoded = decodeURIComponent(url.pathname);
    } catch {
      throw new StationError('bad URL encoding', 'invalid');
    }
    const rel = normalize(decoded).replace(/^([/\\])+/, '');
    let file = resolve(staticDir, rel || 'index.html');
    if (file !== staticDir && !file.startsWith(staticDir + sep))
      throw new StationError('not found', 'not-found');
    if (!existsSync(file) || !extname(file)) file = join(staticDir, 'index.html');
    res.writeHead(200, {
      'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
      'Content-Security-Policy': CSP,
    });
    res.end(await readFile(file));
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://station');
    if (url.pathname !== '/api/events' || !authorised(req, url) || !sameOrigin(req)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const off = api.onEvent((e) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(e));
      });
      ws.on('close', off);
      ws.on('error', off);
    });
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => resolveListen());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    token,
    server,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A random token for `station serve --host 0.0.0.0` when none is given. */
export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new StationError('request body too large', 'invalid'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendError(res: ServerResponse, e: unknown): void {
  const known = e instanceof StationError;
  const code = known ? e.code : 'internal';
  const message = known ? e.message : `internal error: ${(e as Error).message}`;
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(STATUS[code], { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message } }));
}
