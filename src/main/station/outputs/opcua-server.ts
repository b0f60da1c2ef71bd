// The station's OPC UA server (node-opcua): per line, the last verdict, score, inspection id, today's
// counters and the line's status as read-only variables a PLC can read or subscribe to, and an
// InspectionFlaggedEventType event per flagged image. Fed from the outbox like every output (an event per
// flag is raised once the flag is committed, also after a restart).
//
// Secure by default: only Sign&Encrypt endpoints with the station's own certificate (made on first start in
// DATA/opcua/pki), clients' certificates must be trusted (an unknown one lands in pki/rejected, and a person
// trusts it), users sign in with the configured user name and password; anonymous sessions only when
// configured. Bound to 127.0.0.1 unless another address is configured.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as OpcUa from 'node-opcua';
import type { OutboxMessage } from './outbox-store';
import type { Transport } from './sender';

export type OpcuaSecurityMode = 'sign-and-encrypt' | 'sign' | 'none';

export interface OpcuaConfig {
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Address to listen on. Default 127.0.0.1. */
  host: string;
  securityMode: OpcuaSecurityMode;
  allowAnonymous: boolean;
  username: string | null;
}

export type OpcuaState = 'starting' | 'listening' | 'error';

/** What the server shows of a line when it starts (from the database), and after each message. */
export interface LineSnapshot {
  id: number;
  name: string;
  status: string;
  last: {
    inspectionId: number;
    verdict: string;
    score: number | null;
    normalizedScore: number | null;
    threshold: number | null;
    file: string;
    time: string;
  } | null;
}

export interface OpcuaServerOptions {
  config: OpcuaConfig;
  password: string | null;
  /** PKI folder (own certificate and key, trusted and rejected clients). */
  pkiDir: string;
  /** Every line as it is now (at start, and when a message names a line the server does not know). */
  lines: () => LineSnapshot[];
  /** One line's counters for the local day of `at` (pass/flag/error), counting inspections up to id `upToId`. */
  counts: (lineId: number, at: Date) => { pass: number; flag: number; error: number; upToId: number };
  onState: () => void;
  onReady: () => void;
}

export interface RejectedClient {
  thumbprint: string;
  subject: string;
  file: string;
}

/** The station's namespace URI: node ids are `ns=<index of this>;s=line/<id>/<Variable>`. */
export const STATION_NAMESPACE = 'urn:anomaly-station';

interface LineNode {
  object: OpcUa.UAObject;
  vars: Record<string, OpcUa.UAVariable>;
  /** Today's counters, kept by adding each delivered inspection (a count query per image would grow with
   * the day's rows); read from the database at start and when the local day changes. */
  counts: { pass: number; flag: number; error: number };
  /** The local day they count, and the last inspection id the database count included. */
  day: string;
  countedUpTo: number;
}

/** The local calendar day of a time (the Lines view's "today"). */
const localDay = (d: Date): string => `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;

const sha1 = (der: Buffer): string => createHash('sha1').update(der).digest('hex');

function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

export class OpcuaServer implements Transport {
  state: OpcuaState = 'starting';
  stateText = 'starting';
  endpointUrl: string | null = null;
  certificateThumbprint: string | null = null;
  private server: OpcUa.OPCUAServer | null = null;
  private ua!: typeof OpcUa;
  private namespace!: OpcUa.Namespace;
  private linesFolder!: OpcUa.UAObject;
  private eventType!: OpcUa.UAEventType;
  private readonly nodes = new Map<number, LineNode>();
  private closing = false;

  constructor(private readonly o: OpcuaServerOptions) {}

  get ready(): boolean {
    return this.state === 'listening' && !this.closing;
  }

  get config(): OpcuaConfig {
    return this.o.config;
  }

  private setState(state: OpcuaState, text: string): void {
    this.state = state;
    this.stateText = text;
    this.o.onState();
  }

  async start(): Promise<void> {
    try {
      await this.listen();
    } catch (e) {
      await this.server?.shutdown().catch(() => undefined);
      this.server = null;
      this.setState('error', `the OPC UA server cannot start: ${(e as Error).message}`);
      return;
    }
    if (this.closing) return;
    this.setState('listening', `listening on ${this.endpointUrl} (${describeSecurity(this.o.config)})`);
    this.o.onReady();
  }

  private async listen(): Promise<void> {
    const ua = (this.ua = await import('node-opcua'));
    // node-opcua writes its warnings (a refused client, ...) to stdout, where `station watch` prints results.
    ua.setWarningLogger((...args: unknown[]) => console.error(...args));
    ua.setErrorLogger((...args: unknown[]) => console.error(...args));
    const c = this.o.config;
    mkdirSync(this.o.pkiDir, { recursive: true });
    const certificateManager = new ua.OPCUACertificateManager({
      rootFolder: this.o.pkiDir,
      automaticallyAcceptUnknownCertificate: false,
    });
    await certificateManager.initialize();
    // Users sign in by name and password; X509 user certificates would be checked against this store, which
    // nobody fills (and node-opcua would otherwise keep it in the home folder, outside the data dir).
    const userCertificateManager = new ua.OPCUACertificateManager({
      rootFolder: join(this.o.pkiDir, '..', 'user-pki'),
      automaticallyAcceptUnknownCertificate: false,
    });
    const modes = {
      'sign-and-encrypt': ua.MessageSecurityMode.SignAndEncrypt,
      sign: ua.MessageSecurityMode.Sign,
      none: ua.MessageSecurityMode.None,
    };
    const anyAddress = c.host === '0.0.0.0' || c.host === '::';
    const password = this.o.password;
    const username = c.username;
    const server = new ua.OPCUAServer({
      port: c.port,
      host: c.host,
      // The address clients are told (and the certificate names); all interfaces: the machine's name.
      hostname: anyAddress ? undefined : c.host,
      serverCertificateManager: certificateManager,
      userCertificateManager,
      securityModes: [modes[c.securityMode]],
      securityPolicies:
        c.securityMode === 'none'
          ? [ua.SecurityPolicy.None]
          : [
              ua.SecurityPolicy.Basic256Sha256,
              ua.SecurityPolicy.Aes128_Sha256_RsaOaep,
              ua.SecurityPolicy.Aes256_Sha256_RsaPss,
            ],
      allowAnonymous: c.allowAnonymous,
      userManager: {
        isValidUser: (user: string, pass: string) =>
          username !== null && password !== null && user === username && sameSecret(pass, password),
      },
      buildInfo: { productName: 'Anomaly Station', manufacturerName: 'Anomaly Station' },
      serverInfo: { applicationName: { text: 'Anomaly Station', locale: 'en' } },
    });
    this.server = server;
    await server.initialize();
    this.buildAddressSpace();
    await server.start();
    const port = server.endpoints[0]?.port ?? c.port;
    this.endpointUrl = `opc.tcp://${anyAddress ? server.getEndpointUrl().split('/')[2].split(':')[0] : c.host}:${port}`;
    const own = await readFile(certificateManager.ownCertFolder + '/certificate.pem', 'utf8').catch(
      () => null,
    );
    this.certificateThumbprint = own ? sha1(Buffer.from(new X509Certificate(own).raw)) : null;
  }

  /** Objects/AnomalyStation/Lines/<line>/{Status, LastVerdict, ...} and the flag event type. */
  private buildAddressSpace(): void {
    const ua = this.ua;
    const addressSpace = this.server!.engine.addressSpace!;
    this.namespace = addressSpace.registerNamespace(STATION_NAMESPACE);
    const ns = this.namespace;
    const station = ns.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: 'AnomalyStation',
      nodeId: 's=station',
      eventNotifier: ua.EventNotifierFlags.SubscribeToEvents,
      notifierOf: addressSpace.rootFolder.objects.server,
    });
    this.linesFolder = ns.addObject({
      componentOf: station,
      browseName: 'Lines',
      nodeId: 's=lines',
      eventNotifier: ua.EventNotifierFlags.SubscribeToEvents,
      notifierOf: station,
    });
    this.eventType = ns.addEventType({
      browseName: 'InspectionFlaggedEventType',
      subtypeOf: 'BaseEventType',
    });
    for (const [name, dataType] of [
      ['InspectionId', 'UInt32'],
      ['Line', 'String'],
      ['File', 'String'],
      ['Score', 'Double'],
      ['NormalizedScore', 'Double'],
      ['Threshold', 'Double'],
    ] as const) {
      ns.addVariable({ propertyOf: this.eventType, browseName: name, dataType, modellingRule: 'Mandatory' });
    }
    for (const line of this.o.lines()) this.lineNode(line);
  }

  private lineNode(line: LineSnapshot): LineNode {
    const existing = this.nodes.get(line.id);
    if (existing) return existing;
    const ua = this.ua;
    const ns = this.namespace;
    const object = ns.addObject({
      componentOf: this.linesFolder,
      browseName: line.name,
      nodeId: `s=line/${line.id}`,
      eventNotifier: ua.EventNotifierFlags.SubscribeToEvents,
      notifierOf: this.linesFolder,
    });
    const vars: Record<string, OpcUa.UAVariable> = {};
    const add = (
      name: string,
      dataType: 'String' | 'Double' | 'UInt32' | 'DateTime',
      description: string,
    ) => {
      vars[name] = ns.addVariable({
        componentOf: object,
        browseName: name,
        nodeId: `s=line/${line.id}/${name}`,
        dataType,
        description,
        accessLevel: 'CurrentRead',
        userAccessLevel: 'CurrentRead',
        // 0: changes are reported as they happen, not sampled.
        minimumSamplingInterval: 0,
      });
    };
    add('Name', 'String', "the line's name");
    add('Status', 'String', 'watching, paused, missing, error, starting or removed');
    add('LastInspectionId', 'UInt32', "the latest inspection's id (0: none yet)");
    add('LastVerdict', 'String', 'pass, flag or error (empty: none yet)');
    add('LastScore', 'Double', 'raw anomaly score');
    add('LastNormalizedScore', 'Double', 'calibrated score, threshold at 0.5');
    add('LastThreshold', 'Double', 'raw-score threshold the verdict used');
    add('LastFile', 'String', "the camera file's path");
    add('LastTime', 'DateTime', 'when the image was scored');
    add('PassCount', 'UInt32', 'images passed today (station time)');
    add('FlagCount', 'UInt32', 'images flagged today');
    add('ErrorCount', 'UInt32', 'images that could not be judged today');
    const node: LineNode = { object, vars, counts: { pass: 0, flag: 0, error: 0 }, day: '', countedUpTo: 0 };
    this.nodes.set(line.id, node);
    this.set(node, 'Name', 'String', line.name);
    this.set(node, 'Status', 'String', line.status);
    this.setLast(node, line.last);
    this.recount(line.id, node, new Date());
    return node;
  }

  private set(node: LineNode, name: string, dataType: keyof typeof OpcUa.DataType, value: unknown): void {
    const ua = this.ua;
    node.vars[name].setValueFromSource(new ua.Variant({ dataType: ua.DataType[dataType], value }));
  }

  private setLast(node: LineNode, last: LineSnapshot['last']): void {
    const nan = (v: number | null | undefined) => (v === null || v === undefined ? Number.NaN : v);
    this.set(node, 'LastInspectionId', 'UInt32', last?.inspectionId ?? 0);
    this.set(node, 'LastVerdict', 'String', last?.verdict ?? '');
    this.set(node, 'LastScore', 'Double', nan(last?.score));
    this.set(node, 'LastNormalizedScore', 'Double', nan(last?.normalizedScore));
    this.set(node, 'LastThreshold', 'Double', nan(last?.threshold));
    this.set(node, 'LastFile', 'String', last?.file ?? '');
    this.set(node, 'LastTime', 'DateTime', last ? new Date(last.time) : null);
  }

  private recount(lineId: number, node: LineNode, at: Date): void {
    const { upToId, ...counts } = this.o.counts(lineId, at);
    node.counts = counts;
    node.day = localDay(at);
    node.countedUpTo = upToId;
    this.showCounts(node);
  }

  private showCounts(node: LineNode): void {
    this.set(node, 'PassCount', 'UInt32', node.counts.pass);
    this.set(node, 'FlagCount', 'UInt32', node.counts.flag);
    this.set(node, 'ErrorCount', 'UInt32', node.counts.error);
  }

  private nodeFor(lineId: number): LineNode | undefined {
    const known = this.nodes.get(lineId);
    if (known) return known;
    const line = this.o.lines().find((l) => l.id === lineId);
    return line && this.lineNode(line);
  }

  /** A line's status changed (or a line was added). */
  lineStatus(lineId: number, name: string, status: string): void {
    if (!this.ready) return;
    const node = this.nodeFor(lineId);
    if (!node) return;
    this.set(node, 'Status', 'String', status);
    this.set(node, 'Name', 'String', name);
  }

  async deliver(batch: OutboxMessage[]): Promise<number> {
    if (!this.ready) return 0;
    const ua = this.ua;
    for (const m of batch) {
      // Decisions are not announced over OPC UA (the output is created with decisions off).
      if (m.kind !== 'inspection') continue;
      const i = m.inspection;
      const node = this.nodeFor(i.lineId);
      if (!node) continue;
      this.setLast(node, {
        inspectionId: i.id,
        verdict: i.verdict,
        score: i.rawScore,
        normalizedScore: i.normalizedScore,
        threshold: i.threshold,
        file: i.filePath,
        time: i.scoredAt,
      });
      const at = new Date(i.scoredAt);
      if (localDay(at) !== node.day) this.recount(i.lineId, node, at);
      else if (i.id > node.countedUpTo) {
        node.counts[i.verdict] += 1;
        this.showCounts(node);
      }
      if (i.verdict === 'flag') {
        const v = (dataType: keyof typeof OpcUa.DataType, value: unknown) =>
          new ua.Variant({ dataType: ua.DataType[dataType], value });
        node.object.raiseEvent(this.eventType, {
          message: v('LocalizedText', { text: `${i.lineName}: flagged ${i.filePath} (inspection ${i.id})` }),
          severity: v('UInt16', 700),
          inspectionId: v('UInt32', i.id),
          line: v('String', i.lineName),
          file: v('String', i.filePath),
          score: v('Double', i.rawScore ?? Number.NaN),
          normalizedScore: v('Double', i.normalizedScore ?? Number.NaN),
          threshold: v('Double', i.threshold ?? Number.NaN),
        });
      }
    }
    return batch.length;
  }

  /** Client certificates the server refused because nobody trusted them yet. */
  async rejectedClients(): Promise<RejectedClient[]> {
    const folder = join(this.o.pkiDir, 'rejected');
    const out: RejectedClient[] = [];
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      if (!/\.(pem|der)$/.test(name)) continue;
      try {
        const data = await readFile(join(folder, name));
        const cert = new X509Certificate(data);
        out.push({
          thumbprint: sha1(Buffer.from(cert.raw)),
          subject: cert.subject.replace(/\n/g, ', '),
          file: name,
        });
      } catch {
        // not a certificate: ignore
      }
    }
    return out;
  }

  /** Trust a rejected client certificate (by its SHA-1 thumbprint); false if there is none with it. */
  async trustClient(thumbprint: string): Promise<boolean> {
    const manager = this.server?.serverCertificateManager;
    if (!manager) return false;
    const found = (await this.rejectedClients()).find((c) => c.thumbprint === thumbprint.toLowerCase());
    if (!found) return false;
    const cert = new X509Certificate(await readFile(join(this.o.pkiDir, 'rejected', found.file)));
    await manager.trustCertificate(Buffer.from(cert.raw));
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    const server = this.server;
    this.server = null;
    if (server) await server.shutdown(0).catch(() => undefined);
  }
}

function describeSecurity(c: OpcuaConfig): string {
  const mode = { 'sign-and-encrypt': 'Sign&Encrypt', sign: 'Sign', none: 'no security' }[c.securityMode];
  const who = [c.username ? `user ${c.username}` : null, c.allowAnonymous ? 'anonymous' : null]
    .filter(Boolean)
    .join(' or ');
  return `${mode}; ${who || 'no user can sign in: set a user name and password'}`;
}
