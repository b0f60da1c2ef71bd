// The plant outputs as the station sees them: which are configured (an MQTT broker per line, the station's
// OPC UA server), running them, their StationApi methods, and their state for the UI. The station only wires
// this in: it forwards its events here and calls kick() after a decision.
import { join } from 'node:path';
import {
  StationError,
  type LineSummary,
  type MqttOutputSummary,
  type OpcuaOutputSummary,
  type OutputSummary,
  type Requests,
  type StationEvent,
} from '../../../common/api';
import type { StationDatabase } from '../database';
import { DEFAULT_TOPIC_PREFIX } from './messages';
import { MqttOutput, type MqttConfig } from './mqtt-output';
import { OpcuaServer, type LineSnapshot, type OpcuaConfig, type RejectedClient } from './opcua-server';
import { OutboxStore, type OutputRow } from './outbox-store';
import { OutboxSender } from './sender';

/** Sent messages are kept this long (to look into what was sent when), then deleted. */
const KEEP_SENT_MS = 24 * 3600_000;
const DEFAULT_OPCUA_HOST = '127.0.0.1';

export interface OutputsOptions {
  db: StationDatabase;
  dataDir: string;
  stationName?: string;
  emit: (e: StationEvent) => void;
  /** A line as the station shows it (undefined: no such line). */
  line: (lineId: number) => LineSummary | undefined;
  /** Every line not removed. */
  lines: () => LineSummary[];
  /** MQTT reconnect pauses [first, max] (ms). Default [1000, 15000]. */
  retryMs?: [number, number];
  /** How often a sender looks at the outbox without being woken (ms). Default 1000. */
  pollMs?: number;
}

interface Running {
  row: OutputRow;
  transport: MqttOutput | OpcuaServer;
  sender: OutboxSender;
}

export class Outputs {
  readonly store: OutboxStore;
  private readonly running = new Map<number, Running>();
  private readonly emitTimers = new Map<number, NodeJS.Timeout>();
  private rejected: RejectedClient[] = [];
  /** Each line's latest status from the station's events (what the MQTT status message says). */
  private readonly lineStatus = new Map<number, LineSummary>();
  private pruneTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly o: OutputsOptions) {
    this.store = new OutboxStore(o.db);
  }

  /** Start every enabled output (messages owed from before are delivered first, in order). */
  async start(): Promise<void> {
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), 3600_000);
    this.pruneTimer.unref();
    await Promise.all(this.store.listOutputs().map((row) => this.launch(row)));
  }

  private prune(): void {
    try {
      this.store.pruneSent(new Date(Date.now() - KEEP_SENT_MS));
    } catch {
      // a busy or full database: next hour
    }
  }

  /** Wake every sender: something was committed. */
  kick(): void {
    for (const r of this.running.values()) r.sender.kick();
  }

  /** The station's events: new rows wake the senders, line status goes out as MQTT status and OPC UA Status. */
  onStationEvent(e: StationEvent): void {
    if (this.closed) return;
    if (e.type === 'inspection') this.kick();
    else if (e.type === 'line-status') {
      this.lineStatus.set(e.line.id, e.line);
      for (const r of this.running.values()) {
        if (r.transport instanceof OpcuaServer) r.transport.lineStatus(e.line.id, e.line.name, e.line.status);
        else if (r.row.lineId === e.line.id) {
          // The last will names the line's topic: a renamed line needs a new connection.
          if (r.transport.willLineName && r.transport.willLineName !== e.line.name)
            void this.restart(r.row.id);
          else r.transport.publishStatus();
        }
      }
    }
  }

  private async launch(row: OutputRow): Promise<void> {
    if (!row.enabled || this.closed) return;
    const onState = () => this.changed(row.id);
    let transport: MqttOutput | OpcuaServer;
    if (row.kind === 'mqtt') {
      const lineId = row.lineId!;
      transport = new MqttOutput({
        config: row.config as unknown as MqttConfig,
        password: this.store.secrets(row.id).password ?? null,
        lineId,
        lineName: () => this.o.db.getLine(lineId)?.name ?? `line-${lineId}`,
        lineStatus: () => {
          const l = this.lineStatus.get(lineId) ?? this.o.line(lineId);
          return l ? { status: l.status, text: l.statusText } : null;
        },
        stationName: this.o.stationName,
        onState,
        onReady: () => this.running.get(row.id)?.sender.kick(),
        retryMs: this.o.retryMs,
      });
    } else {
      transport = new OpcuaServer({
        config: row.config as unknown as OpcuaConfig,
        password: this.store.secrets(row.id).password ?? null,
        pkiDir: join(this.o.dataDir, 'opcua', 'pki'),
        lines: () => this.o.lines().map((l) => this.snapshot(l)),
        counts: (lineId, at) => {
          const upToId = this.o.db.lastInspectionId();
          const day = new Date(at);
          day.setHours(0, 0, 0, 0);
          const next = new Date(day);
          next.setDate(day.getDate() + 1);
          const c = this.o.db.countInspections.bind(this.o.db);
          const n = (verdict: 'pass' | 'flag' | 'error') =>
            c({ lineId, from: day, to: next, verdict, maxId: upToId });
          return { pass: n('pass'), flag: n('flag'), error: n('error'), upToId };
        },
        onState: () => {
          onState();
          void this.refreshRejected();
        },
        onReady: () => this.running.get(row.id)?.sender.kick(),
      });
    }
    const sender = new OutboxSender(this.store, row.id, transport, {
      pollMs: this.o.pollMs,
      onProgress: onState,
      onError: (e) => this.o.emit({ type: 'error', message: `${describe(row, this.o.db)}: ${e.message}` }),
    });
    this.running.set(row.id, { row, transport, sender });
    if (transport instanceof MqttOutput) transport.start();
    else await transport.start();
  }

  private snapshot(l: LineSummary): LineSnapshot {
    const last = this.o.db.latestInspections(l.id, 1)[0];
    return {
      id: l.id,
      name: l.name,
      status: l.status,
      last: last
        ? {
            inspectionId: last.id,
            verdict: last.verdict,
            score: last.rawScore,
            normalizedScore: last.normalizedScore,
            threshold: last.threshold,
            file: last.filePath,
            time: last.scoredAt,
          }
        : null,
    };
  }

  private async stop(id: number): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    const stopped = r.sender.close();
    await r.transport.close();
    await stopped;
  }

  private async restart(id: number): Promise<void> {
    await this.stop(id);
    const row = this.store.getOutput(id);
    if (row) await this.launch(row);
    this.changed(id);
  }

  /** State and backlog reach clients as output-status events, at most four times a second per output. */
  private changed(id: number): void {
    if (this.closed || this.emitTimers.has(id)) return;
    this.emitTimers.set(
      id,
      setTimeout(() => {
        this.emitTimers.delete(id);
        if (this.closed) return;
        const row = this.store.getOutput(id);
        if (row) this.o.emit({ type: 'output-status', output: this.summary(row) });
      }, 250),
    );
  }

  private async refreshRejected(): Promise<void> {
    const opcua = [...this.running.values()].find((r) => r.transport instanceof OpcuaServer);
    this.rejected = opcua ? await (opcua.transport as OpcuaServer).rejectedClients() : [];
  }

  // ---------------------------------------------------------------------------------- summaries

  private summary(row: OutputRow): OutputSummary {
    const r = this.running.get(row.id);
    const hasPassword = Boolean(this.store.secrets(row.id).password);
    const base = {
      id: row.id,
      lineId: row.lineId,
      lineName: row.lineId === null ? null : (this.o.db.getLine(row.lineId)?.name ?? null),
      enabled: row.enabled,
      state: r ? r.transport.state : ('off' as const),
      stateText: r ? r.transport.stateText : 'off',
      backlog: this.store.backlog(row.id),
      sent: r?.sender.sent ?? 0,
      lastSentAt: r?.sender.lastSentAt ?? null,
    };
    if (row.kind === 'mqtt') {
      const c = row.config as unknown as MqttConfig;
      return {
        ...base,
        kind: 'mqtt',
        mqtt: {
          url: c.url,
          topicPrefix: c.topicPrefix,
          qos: c.qos,
          username: c.username,
          hasPassword,
          caFile: c.caFile,
          certFile: c.certFile,
          keyFile: c.keyFile,
        },
      };
    }
    const c = row.config as unknown as OpcuaConfig;
    const server = r?.transport as OpcuaServer | undefined;
    return {
      ...base,
      kind: 'opcua',
      opcua: {
        port: c.port,
        host: c.host,
        securityMode: c.securityMode,
        allowAnonymous: c.allowAnonymous,
        username: c.username,
        hasPassword,
        endpointUrl: server?.ready ? server.endpointUrl : null,
        certificateThumbprint: server?.certificateThumbprint ?? null,
        rejectedClients: this.rejected.map(({ thumbprint, subject }) => ({ thumbprint, subject })),
      },
    };
  }

  async list(): Promise<OutputSummary[]> {
    await this.refreshRejected();
    return this.store.listOutputs().map((row) => this.summary(row));
  }

  private async summaryOf(id: number): Promise<OutputSummary> {
    await this.refreshRejected();
    const row = this.store.getOutput(id);
    if (!row) throw new StationError(`output ${id} not found`, 'not-found');
    return this.summary(row);
  }

  // ---------------------------------------------------------------------------------- configuration

  async setMqtt(req: Requests['setMqttOutput']): Promise<MqttOutputSummary> {
    const line = this.o.line(req.lineId);
    if (!line || line.status === 'removed')
      throw new StationError(`line ${req.lineId} not found`, 'not-found');
    const cur = this.store.findOutput<MqttConfig>('mqtt', req.lineId);
    const keep = <T>(v: T | undefined, old: T | undefined, dflt: T): T =>
      v !== undefined ? v : old !== undefined ? old : dflt;
    const config: MqttConfig = {
      url: req.url,
      topicPrefix: keep(req.topicPrefix, cur?.config.topicPrefix, DEFAULT_TOPIC_PREFIX),
      qos: keep(req.qos, cur?.config.qos, 1),
      username: keep(req.username, cur?.config.username, null),
      caFile: keep(req.caFile, cur?.config.caFile, null),
      certFile: keep(req.certFile, cur?.config.certFile, null),
      keyFile: keep(req.keyFile, cur?.config.keyFile, null),
    };
    const row = this.store.saveOutput({
      kind: 'mqtt',
      lineId: req.lineId,
      enabled: keep(req.enabled, cur?.enabled, true),
      decisions: true,
      config,
      secrets: { password: req.password },
    });
    await this.restart(row.id);
    return (await this.summaryOf(row.id)) as MqttOutputSummary;
  }

  async setOpcua(req: Requests['setOpcuaOutput']): Promise<OpcuaOutputSummary> {
    const cur = this.store.findOutput<OpcuaConfig>('opcua', null);
    const keep = <T>(v: T | undefined, old: T | undefined, dflt: T): T =>
      v !== undefined ? v : old !== undefined ? old : dflt;
    const config: OpcuaConfig = {
      port: req.port,
      host: keep(req.host, cur?.config.host, DEFAULT_OPCUA_HOST),
      securityMode: keep(req.securityMode, cur?.config.securityMode, 'sign-and-encrypt'),
      allowAnonymous: keep(req.allowAnonymous, cur?.config.allowAnonymous, false),
      username: keep(req.username, cur?.config.username, null),
    };
    const row = this.store.saveOutput({
      kind: 'opcua',
      lineId: null,
      enabled: keep(req.enabled, cur?.enabled, true),
      decisions: false,
      config,
      secrets: { password: req.password },
    });
    await this.restart(row.id);
    return (await this.summaryOf(row.id)) as OpcuaOutputSummary;
  }

  async remove(req: Requests['removeOutput']): Promise<{ removed: number }> {
    if (!this.store.getOutput(req.id)) throw new StationError(`output ${req.id} not found`, 'not-found');
    await this.stop(req.id);
    this.store.removeOutput(req.id);
    return { removed: req.id };
  }

  async trustOpcuaClient(req: Requests['trustOpcuaClient']): Promise<OpcuaOutputSummary> {
    const r = [...this.running.values()].find((x) => x.transport instanceof OpcuaServer);
    if (!r) throw new StationError('the OPC UA server is not running', 'refused');
    if (!(await (r.transport as OpcuaServer).trustClient(req.thumbprint)))
      throw new StationError(
        `no rejected OPC UA client certificate with thumbprint ${req.thumbprint}`,
        'not-found',
      );
    return (await this.summaryOf(r.row.id)) as OpcuaOutputSummary;
  }

  /** Stop every output: MQTT says "offline" (retained) and disconnects; undelivered messages stay owed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pruneTimer);
    this.emitTimers.forEach((t) => clearTimeout(t));
    await Promise.all([...this.running.keys()].map((id) => this.stop(id)));
  }
}

function describe(row: OutputRow, db: StationDatabase): string {
  if (row.kind === 'opcua') return 'OPC UA server';
  return `MQTT output of ${db.getLine(row.lineId!)?.name ?? `line ${row.lineId}`}`;
}
