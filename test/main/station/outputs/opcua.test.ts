// The station's OPC UA server against a real node-opcua client, with a real station (tiny model, real folders,
// real SQLite): only Sign&Encrypt endpoints with the station's own certificate; an unknown client certificate is
// refused until trusted; anonymous and wrong-password sessions are refused; a client reads a line's variables,
// subscribes, and sees a dropped image's verdict and the flag event; the variables are read-only.
import { mkdirSync, readFileSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  UserTokenType,
  Variant,
  constructEventFilter,
  type ClientSession,
  type DataValue,
} from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Inspection, OpcuaOutputSummary, StationApi, StationEvent } from '../../../../src/common/api';
import { validated } from '../../../../src/main/station/in-process';
import { STATION_NAMESPACE } from '../../../../src/main/station/outputs/opcua-server';
import { Station } from '../../../../src/main/station/station';
import { tempDir } from '../../../helpers/fixtures';
import { dropPart, trainTinyModel, waitFor } from '../../../helpers/station-fixtures';

const t = tempDir();
let modelDir: string;

beforeAll(async () => {
  modelDir = await trainTinyModel(t.dir);
}, 120_000);
afterAll(() => t.cleanup());

function client(pki: string, securityMode = MessageSecurityMode.SignAndEncrypt): OPCUAClient {
  return OPCUAClient.create({
    applicationName: 'test PLC',
    securityMode,
    securityPolicy:
      securityMode === MessageSecurityMode.None ? SecurityPolicy.None : SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 50, maxDelay: 100 },
    // The PLC side trusts the station's certificate here; the test checks its thumbprint against the UI's.
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: pki,
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
}

const sha1 = (der: Buffer) => createHash('sha1').update(der).digest('hex');

describe('OPC UA server (real node-opcua client)', () => {
  it('Sign&Encrypt with the station certificate, trusted clients and users only; a client reads, subscribes and sees a dropped image’s verdict and flag event', async () => {
    const cam = join(t.dir, 'cam1');
    mkdirSync(cam);
    const station = await Station.open({ dataDir: join(t.dir, 'data1'), backend: 'wasm', settleMs: 150 });
    const api: StationApi = validated(station);
    const events: StationEvent[] = [];
    station.onEvent((e) => events.push(e));
    const model = await api.registerModel({ folder: modelDir });
    const line = await api.addLine({ name: 'press-1', folder: cam, modelId: model.id });
    await dropPart(cam, 'before.png', 100);
    await waitFor('the first inspection', () => events.some((e) => e.type === 'inspection'));

    const set = await api.setOpcuaOutput({ port: 0, username: 'plc', password: 'plc-secret-9' });
    expect(set.opcua).toMatchObject({
      host: '127.0.0.1',
      securityMode: 'sign-and-encrypt',
      allowAnonymous: false,
      username: 'plc',
      hasPassword: true,
    });
    const out = (await waitFor('listening', async () => {
      const o = (await api.listOutputs({})).find((x) => x.kind === 'opcua') as OpcuaOutputSummary;
      return o.state === 'listening' && o;
    })) as OpcuaOutputSummary;
    const url = out.opcua.endpointUrl!;
    expect(url).toMatch(/^opc\.tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(out.opcua.certificateThumbprint).toMatch(/^[0-9a-f]{40}$/);

    // Discovery (an unsecured channel, as every OPC UA client does first): only Sign&Encrypt endpoints, all
    // with the station's own certificate; that channel itself serves no session.
    const pki = join(t.dir, 'plc-pki');
    const probe = client(join(t.dir, 'probe-pki'), MessageSecurityMode.None);
    await probe.connect(url);
    const endpoints = await probe.getEndpoints();
    await expect(probe.createSession()).rejects.toThrow();
    await probe.disconnect();
    expect(endpoints.length).toBeGreaterThan(0);
    for (const e of endpoints) {
      expect(e.securityMode).toBe(MessageSecurityMode.SignAndEncrypt);
      expect(sha1(e.serverCertificate as Buffer)).toBe(out.opcua.certificateThumbprint);
    }

    // This client's certificate is unknown to the station: refused, and listed for a person to trust.
    const plc = client(pki);
    await expect(
      (async () => {
        await plc.connect(url);
        await plc.createSession({ type: UserTokenType.UserName, userName: 'plc', password: 'plc-secret-9' });
      })(),
    ).rejects.toThrow();
    await plc.disconnect();
    const own = new X509Certificate(readFileSync(join(pki, 'own', 'certs', 'client_certificate.pem')));
    const thumbprint = sha1(Buffer.from(own.raw));
    const listed = await waitFor('the rejected client listed', async () => {
      const o = (await api.listOutputs({})).find((x) => x.kind === 'opcua') as OpcuaOutputSummary;
      return o.opcua.rejectedClients.find((c) => c.thumbprint === thumbprint);
    });
    expect(listed.subject).toMatch(/test PLC/);
    await expect(api.trustOpcuaClient({ thumbprint: 'f'.repeat(40) })).rejects.toThrow(/no rejected/);
    const trusted = await api.trustOpcuaClient({ thumbprint });
    expect(trusted.opcua.rejectedClients.map((c) => c.thumbprint)).not.toContain(thumbprint);

    // Trusted now; still no anonymous session and no wrong password.
    await plc.connect(url);
    await expect(plc.createSession()).rejects.toThrow();
    await expect(
      plc.createSession({ type: UserTokenType.UserName, userName: 'plc', password: 'wrong' }),
    ).rejects.toThrow();
    const session: ClientSession = await plc.createSession({
      type: UserTokenType.UserName,
      userName: 'plc',
      password: 'plc-secret-9',
    });
    try {
      const ns = (await session.readNamespaceArray()).indexOf(STATION_NAMESPACE);
      expect(ns).toBeGreaterThan(0);
      const node = (name: string) => `ns=${ns};s=line/${line.id}/${name}`;
      const read = async (name: string) =>
        (await session.read({ nodeId: node(name), attributeId: AttributeIds.Value })).value.value as unknown;

      // What the station already judged before the server started.
      const first = events.find((e) => e.type === 'inspection')!.inspection as Inspection;
      expect(await read('Name')).toBe('press-1');
      expect(await read('Status')).toBe('watching');
      expect(await read('LastInspectionId')).toBe(first.id);
      expect(await read('LastVerdict')).toBe(first.verdict);
      expect(await read('LastScore')).toBeCloseTo(first.rawScore!, 10);

      // Subscribe: the id, the verdict, and the flag events on the line.
      const sub = ClientSubscription.create(session, {
        requestedPublishingInterval: 100,
        requestedMaxKeepAliveCount: 20,
        requestedLifetimeCount: 600,
        publishingEnabled: true,
      });
      await new Promise<void>((r) => sub.once('started', () => r()));
      // The guarantee the PLC relies on: a change is reported at the next publish, and publishes are 100 ms apart.
      expect(sub.publishingInterval).toBeLessThanOrEqual(100);
      const changes: { id: number; at: number }[] = [];
      const verdicts: string[] = [];
      const idItem = ClientMonitoredItem.create(
        sub,
        { nodeId: node('LastInspectionId'), attributeId: AttributeIds.Value },
        { samplingInterval: 0, discardOldest: true, queueSize: 100 },
        TimestampsToReturn.Both,
      );
      idItem.on('changed', (v: DataValue) =>
        changes.push({ id: v.value.value as number, at: performance.now() }),
      );
      const verdictItem = ClientMonitoredItem.create(
        sub,
        { nodeId: node('LastVerdict'), attributeId: AttributeIds.Value },
        { samplingInterval: 0, discardOldest: true, queueSize: 100 },
        TimestampsToReturn.Both,
      );
      verdictItem.on('changed', (v: DataValue) => verdicts.push(v.value.value as string));
      const flagEvents: Variant[][] = [];
      const eventItem = ClientMonitoredItem.create(
        sub,
        { nodeId: `ns=${ns};s=line/${line.id}`, attributeId: AttributeIds.EventNotifier },
        {
          samplingInterval: 0,
          queueSize: 100,
          discardOldest: true,
          filter: constructEventFilter([
            'Message',
            'Severity',
            `${ns}:InspectionId`,
            `${ns}:Line`,
            `${ns}:Score`,
          ]),
        },
        TimestampsToReturn.Neither,
      );
      eventItem.on('changed', (fields: unknown) => flagEvents.push(fields as Variant[]));
      await waitFor('the initial value', () => changes.length > 0);
      expect(changes[0].id).toBe(first.id);

      // Drop a defective part: its verdict reaches the subscriber, and its flag event.
      const committed: { id: number; at: number }[] = [];
      station.onEvent((e) => {
        if (e.type === 'inspection') committed.push({ id: e.inspection.id, at: performance.now() });
      });
      await dropPart(cam, 'bad.png', 9100, true);
      const bad: Inspection = await waitFor('the bad part scored', () =>
        events
          .flatMap((e) => (e.type === 'inspection' ? [e.inspection] : []))
          .find((i) => i.filePath.endsWith('bad.png')),
      );
      expect(bad.verdict).toBe('flag');
      await waitFor('the new id at the client', () => changes.some((c) => c.id === bad.id));
      await waitFor('the verdict at the client', () => verdicts.at(-1) === 'flag');
      const seenAt = changes.find((c) => c.id === bad.id)!.at;
      const committedAt = committed.find((c) => c.id === bad.id)!.at;
      console.log(`OPC UA: commit -> data change at the client ${(seenAt - committedAt).toFixed(0)} ms`);
      await waitFor('the flag event', () => flagEvents.length > 0);
      const [message, severity, inspectionId, lineName, score] = flagEvents[0].map((v) => v.value as unknown);
      expect(inspectionId).toBe(bad.id);
      expect(lineName).toBe('press-1');
      expect(score).toBeCloseTo(bad.rawScore!, 10);
      expect(severity).toBe(700);
      expect(String((message as { text: string }).text)).toContain('bad.png');
      // Today's counters: counted from the database at start, then one added per image delivered.
      const counts = (await api.listLines({}))[0].counts;
      expect(counts.flag).toBeGreaterThanOrEqual(1);
      expect([await read('PassCount'), await read('FlagCount'), await read('ErrorCount')]).toEqual([
        counts.pass,
        counts.flag,
        counts.error,
      ]);

      // Read-only: a PLC cannot change what the station said.
      const w = await session.write({
        nodeId: node('LastVerdict'),
        attributeId: AttributeIds.Value,
        value: { value: new Variant({ dataType: DataType.String, value: 'pass' }) },
      });
      expect([StatusCodes.BadNotWritable.value, StatusCodes.BadUserAccessDenied.value]).toContain(w.value);
      expect(await read('LastVerdict')).toBe('flag');
      await sub.terminate();
    } finally {
      await session.close();
      await plc.disconnect();
      await station.close();
    }
    // The password never left the station.
    expect(JSON.stringify(events)).not.toContain('plc-secret-9');
  }, 180_000);

  it('anonymous access only when configured; a port in use is a clear error state', async () => {
    const station = await Station.open({ dataDir: join(t.dir, 'data2'), backend: 'wasm', settleMs: 150 });
    const api = validated(station);
    try {
      const o = await api.setOpcuaOutput({ port: 0, allowAnonymous: true });
      const url = (
        (await waitFor('listening', async () => {
          const x = (await api.listOutputs({}))[0] as OpcuaOutputSummary;
          return x.state === 'listening' && x;
        })) as OpcuaOutputSummary
      ).opcua.endpointUrl!;
      expect(o.opcua.allowAnonymous).toBe(true);
      const c = client(join(t.dir, 'anon-pki'));
      // Trust this client (its certificate is made at the first connect, then refused).
      await c.connect(url).catch(() => undefined);
      await c.createSession().catch(() => undefined);
      await c.disconnect();
      const rejected = ((await api.listOutputs({}))[0] as OpcuaOutputSummary).opcua.rejectedClients;
      for (const r of rejected) await api.trustOpcuaClient({ thumbprint: r.thumbprint });
      await c.connect(url);
      const s = await c.createSession();
      expect(s.sessionId).toBeTruthy();
      await s.close();
      await c.disconnect();

      // The same port twice: the second server cannot listen, and says why.
      const port = Number(url.split(':').at(-1));
      const other = await Station.open({ dataDir: join(t.dir, 'data3'), backend: 'wasm' });
      try {
        await other.setOpcuaOutput({ port });
        const x = (await waitFor('an error', async () => {
          const y = (await other.listOutputs())[0];
          return y.state === 'error' && y;
        })) as OpcuaOutputSummary;
        expect(x.stateText).toMatch(/cannot start/);
      } finally {
        await other.close();
      }
    } finally {
      await station.close();
    }
  }, 120_000);
});
