// The HTTP + WebSocket transport against a real station: the same typed API as in-process, events over a
// real WebSocket, images by id only, validation, loopback-only by default, tokens elsewhere.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StationEvent } from '../../../src/common/api';
import { connectHttp } from '../../../src/common/http-client';
import { serveHttp, type RunningServer } from '../../../src/main/station/http-server';
import { validated } from '../../../src/main/station/in-process';
import { Station } from '../../../src/main/station/station';
import { tempDir } from '../../helpers/fixtures';
import { dropPart, trainTinyModel, waitFor } from '../../helpers/station-fixtures';

const t = tempDir();
let station: Station;
let server: RunningServer;
let cam: string;

beforeAll(async () => {
  const modelDir = await trainTinyModel(t.dir);
  cam = join(t.dir, 'cam');
  mkdirSync(cam);
  station = await Station.open({ dataDir: join(t.dir, 'data'), backend: 'wasm', settleMs: 150 });
  const model = await station.registerModel({ folder: modelDir });
  await station.addLine({ name: 'HTTP line', folder: cam, modelId: model.id });
  server = await serveHttp(validated(station), { port: 0 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await station?.close();
  t.cleanup();
});

async function raw(path: string, init: RequestInit & { host?: string } = {}) {
  return fetch(`${server.url}${path}`, init);
}

describe('HTTP + WebSocket transport', () => {
  it('binds to loopback and carries calls, events and images', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const api = connectHttp(server.url);
    const events: StationEvent[] = [];
    const off = api.onEvent((e) => events.push(e));
    await new Promise((r) => setTimeout(r, 300)); // socket open
    await dropPart(cam, 'part-1.png', 5001, true);
    const ev = await waitFor('inspection event over the WebSocket', () =>
      events.find((e) => e.type === 'inspection'),
    );
    const insp = ev.type === 'inspection' ? ev.inspection : undefined;
    expect(insp?.verdict).toBe('flag');
    const lines = await api.listLines({});
    expect(lines).toHaveLength(1);
    const img = await api.getImage({ inspectionId: insp!.id, kind: 'heatmap' });
    expect(img.data.length).toBeGreaterThan(100);
    const res = await fetch(api.imageUrl(insp!.id, 'thumbnail'));
    expect(res.headers.get('content-type')).toBe('image/png');
    off();
    api.close();
  }, 60_000);

  it('validates payloads and refuses what is not the API', async () => {
    const api = connectHttp(server.url);
    await expect(api.getInspection({ id: 0 })).rejects.toThrow(/getInspection: id/);
    await expect(api.addLine({ name: 'x', folder: '/nope', modelId: 1 })).rejects.toThrow(/folder not found/);
    const json = { 'Content-Type': 'application/json' };
    const bad = await raw('/api/listLines', { method: 'POST', headers: json, body: '{not json' });
    expect(bad.status).toBe(400);
    const extra = await raw('/api/listLines', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ sneaky: 1 }),
    });
    expect(extra.status).toBe(400);
    expect((await raw('/api/deleteEverything', { method: 'POST', headers: json, body: '{}' })).status).toBe(
      404,
    );
    // A web page elsewhere cannot drive the station: no simple (text/plain) posts, no foreign Origin.
    const simple = await raw('/api/listLines', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: '{}',
    });
    expect(simple.status).toBe(400);
    const foreign = await raw('/api/listLines', {
      method: 'POST',
      headers: { ...json, Origin: 'http://evil.example' },
      body: '{}',
    });
    expect(foreign.status).toBe(401);
    const own = await raw('/api/listLines', {
      method: 'POST',
      headers: { ...json, Origin: server.url },
      body: '{}',
    });
    expect(own.status).toBe(200);
    // Images only by numeric id and known kind: a path never reaches the file system.
    expect((await raw('/api/image/1/..%2F..%2Fetc%2Fpasswd')).status).toBe(404);
    expect((await raw('/api/image/..%2Fstation.db/overlay')).status).toBe(404);
    expect((await raw('/api/image/1/passwd')).status).toBe(400);
  });

  it('exports audit reports for the signed-in user and serves them by name only', async () => {
    const api = connectHttp(server.url);
    const period = { from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' };
    const preview = await api.previewReport(period);
    expect(preview.overall.inspected).toBe((await api.queryInspections({ limit: 1 })).total);
    await expect(api.exportReport({ ...period, pdf: true, csv: true })).rejects.toThrow(/sign in first/);
    await expect(api.previewReport({ from: period.to, to: period.from })).rejects.toThrow(/must end after/);
    await expect(api.exportReport({ ...period, pdf: false, csv: false })).rejects.toThrow(
      /PDF, a CSV or both/,
    );
    await api.signIn({ name: 'Quality Manager' });
    const out = await api.exportReport({ ...period, lot: 'LOT-7', pdf: true, csv: true });
    expect(out.files.map((f) => f.format)).toEqual(['pdf', 'csv']);
    const pdf = await fetch(api.reportUrl(out.files[0].name));
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.headers.get('content-disposition')).toContain(out.files[0].name);
    expect(
      Buffer.from(await pdf.arrayBuffer())
        .subarray(0, 5)
        .toString(),
    ).toBe('%PDF-');
    const csv = await api.getReportFile({ name: out.files[1].name });
    expect(new TextDecoder().decode(csv.data).split('\r\n')[0]).toMatch(/^inspection_id,/);
    expect(out.files[1].count).toBe(preview.overall.inspected);
    // Names only: no folders, no traversal, no other files of the data folder.
    for (const name of ['..%2Fstation.db', '..%2F..%2Fetc%2Fpasswd', 'station.db', 'x.pdf.exe'])
      expect((await raw(`/api/report/${name}`)).status, name).toBe(400);
    expect((await raw('/api/report/report-none.pdf')).status).toBe(404);
    api.close();
  });

  it('refuses a Host header that is not loopback (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${server.url}/api/listLines`);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: { Host: 'evil.example:80' },
        },
        (res) => resolve(res.statusCode ?? 0),
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(401);
    // A page elsewhere cannot listen to the event stream either.
    const { WebSocket: WsClient } = await import('ws');
    const refused = await new Promise<string>((resolve) => {
      const ws = new WsClient(`${server.url.replace('http', 'ws')}/api/events`, {
        origin: 'http://evil.example',
      });
      ws.on('open', () => resolve('open'));
      ws.on('error', (e) => resolve(e.message));
    });
    expect(refused).toMatch(/401/);
  });

  it('requires a token on any other address, and checks it', async () => {
    await expect(serveHttp(validated(station), { host: '0.0.0.0', port: 0 })).rejects.toThrow(
      /requires a token/,
    );
    const token = 'a-long-enough-test-token';
    const open = await serveHttp(validated(station), { host: '0.0.0.0', port: 0, token });
    try {
      const url = open.url.replace('0.0.0.0', '127.0.0.1');
      const denied = await fetch(`${url}/api/listLines`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(denied.status).toBe(401);
      const wrong = connectHttp(url, 'a-long-enough-WRONG-token');
      await expect(wrong.listLines({})).rejects.toThrow(/token/);
      const ok = connectHttp(url, token);
      expect(await ok.listLines({})).toHaveLength(1);
    } finally {
      await open.close();
    }
  });
});
