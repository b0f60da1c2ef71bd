// One line's MQTT output (the `mqtt` npm client): a connection to the line's broker that publishes the
// outbox's messages in order at the configured QoS, keeps the line's status retained with a last will of
// "offline", and reconnects by itself (with a growing pause) when the broker is down or refuses it.
//
// The reconnect loop is ours (mqtt.js's own is off): each connection is a fresh client, so nothing mqtt.js
// queued for an old connection is replayed out of order; what was not acknowledged stays in the outbox and
// is sent again, in order, on the next connection.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { OutboxMessage } from './outbox-store';
import { renderMessage, topicFor, MESSAGE_VERSION, type StatusMessage } from './messages';
import type { Transport } from './sender';

export interface MqttConfig {
  /** mqtt://, mqtts://, ws:// or wss:// (never with credentials in it: those are separate fields). */
  url: string;
  topicPrefix: string;
  qos: 0 | 1 | 2;
  username: string | null;
  /** TLS: PEM files on the station's machine (read at each connection). */
  caFile: string | null;
  certFile: string | null;
  keyFile: string | null;
}

export type MqttState = 'connecting' | 'connected' | 'disconnected' | 'error';

export interface MqttOutputOptions {
  config: MqttConfig;
  password: string | null;
  lineId: number;
  /** The line's name now (its topic level). */
  lineName: () => string;
  /** The line's status now, for the retained status message. */
  lineStatus: () => { status: string; text: string } | null;
  stationName?: string;
  /** State changed (for the UI). */
  onState: () => void;
  /** Connected: time to send what is owed. */
  onReady: () => void;
  /** Reconnect pauses (ms): first, and the most it grows to. Default 1000 and 15000. */
  retryMs?: [number, number];
}

/** What a refused CONNACK means, in words (MQTT 3.1.1 return codes and their MQTT 5 equivalents). */
const REFUSALS: Record<number, string> = {
  1: 'it does not accept this MQTT protocol version',
  2: 'it rejected the client id',
  3: 'the broker is unavailable',
  4: "it refused the station's credentials (bad user name or password)",
  5: 'the station is not authorized (check the user name and password)',
  134: "it refused the station's credentials (bad user name or password)",
  135: 'the station is not authorized (check the user name and password)',
};

export class MqttOutput implements Transport {
  state: MqttState = 'connecting';
  stateText = 'connecting';
  private client: MqttClient | null = null;
  private connected = false;
  /** Resolves when the current connection is gone: in-flight publishes count as not delivered. */
  private lost: Promise<false> = Promise.resolve(false);
  private closing = false;
  private retryTimer?: NodeJS.Timeout;
  private pause: number;
  private lastStatus = '';
  private markLost: (v: false) => void = () => undefined;
  private readonly clientId = `anomaly-station-${randomBytes(4).toString('hex')}`;
  /** The line name the last-will topic was made with (a renamed line needs a new connection). */
  willLineName = '';

  constructor(private readonly o: MqttOutputOptions) {
    this.pause = o.retryMs?.[0] ?? 1000;
  }

  get ready(): boolean {
    return this.connected && !this.closing;
  }

  get config(): MqttConfig {
    return this.o.config;
  }

  start(): void {
    void this.connect();
  }

  private setState(state: MqttState, text: string): void {
    if (state === this.state && text === this.stateText) return;
    this.state = state;
    this.stateText = text;
    this.o.onState();
  }

  private statusTopic(): string {
    return topicFor(this.o.config.topicPrefix, this.o.lineName(), this.o.lineId, 'status');
  }

  private statusMessage(state: 'online' | 'offline'): string {
    const s = state === 'online' ? this.o.lineStatus() : null;
    const m: StatusMessage = {
      v: MESSAGE_VERSION,
      type: 'status',
      state,
      line: this.o.lineName(),
      lineId: this.o.lineId,
      status: s?.status ?? null,
      text: s?.text ?? null,
      station: this.o.stationName ?? hostname(),
      time: new Date().toISOString(),
    };
    return JSON.stringify(m);
  }

  private async options(): Promise<IClientOptions> {
    const c = this.o.config;
    const file = async (path: string | null, what: string) => {
      if (!path) return undefined;
      try {
        return await readFile(path);
      } catch (e) {
        throw new Error(`cannot read the TLS ${what} file ${path}: ${(e as Error).message}`, { cause: e });
      }
    };
    this.willLineName = this.o.lineName();
    return {
      clientId: this.clientId,
      username: c.username ?? undefined,
      password: this.o.password ?? undefined,
      clean: true,
      // Ours (see the top of the file): one client per connection.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 30,
      resubscribe: false,
      queueQoSZero: false,
      will: {
        topic: this.statusTopic(),
        payload: Buffer.from(this.statusMessage('offline')),
        qos: 1,
        retain: true,
      },
      ca: await file(c.caFile, 'CA'),
      cert: await file(c.certFile, 'certificate'),
      key: await file(c.keyFile, 'key'),
      rejectUnauthorized: true,
    };
  }

  private async connect(): Promise<void> {
    if (this.closing) return;
    const url = this.o.config.url;
    if (this.state !== 'disconnected' && this.state !== 'error')
      this.setState('connecting', `connecting to ${url}`);
    let options: IClientOptions;
    let mqtt: typeof import('mqtt');
    try {
      options = await this.options();
      mqtt = await import('mqtt');
    } catch (e) {
      this.setState('error', `${(e as Error).message}; retrying in ${Math.round(this.pause / 1000)} s`);
      this.retry();
      return;
    }
    if (this.closing) return;
    let error: Error | null = null;
    let markLost!: (v: false) => void;
    this.lost = new Promise((r) => (markLost = r));
    this.markLost = markLost;
    const client = mqtt.connect(url, options);
    this.client = client;
    client.on('connect', () => {
      this.connected = true;
      this.pause = this.o.retryMs?.[0] ?? 1000;
      this.setState('connected', `connected to ${url}`);
      this.lastStatus = '';
      this.publishStatus();
      this.o.onReady();
    });
    client.on('error', (e) => (error = e));
    client.on('close', () => {
      if (this.client !== client) return;
      const wasConnected = this.connected;
      this.connected = false;
      this.client = null;
      markLost(false);
      client.end(true);
      if (this.closing) return;
      const code = (error as { code?: unknown } | null)?.code;
      const refusal = typeof code === 'number' ? REFUSALS[code] : undefined;
      const retry = `retrying in ${Math.round(this.pause / 1000)} s`;
      if (refusal)
        this.setState('error', `the broker at ${url} refused the connection: ${refusal}; ${retry}`);
      else if (wasConnected)
        this.setState(
          'disconnected',
          `connection to ${url} lost${error ? ` (${error.message})` : ''}; ${retry}`,
        );
      else
        this.setState(
          'disconnected',
          `cannot reach the broker at ${url}${error ? ` (${error.message})` : ''}; ${retry}`,
        );
      this.retry();
    });
  }

  private retry(): void {
    if (this.closing) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), this.pause);
    this.pause = Math.min(this.pause * 2, this.o.retryMs?.[1] ?? 15_000);
  }

  /** Publish the line's status (retained), if it changed since the last one this connection published. */
  publishStatus(): void {
    const client = this.client;
    if (!client || !this.connected) return;
    const s = this.o.lineStatus();
    const key = `${this.o.lineName()}\0${s?.status}\0${s?.text}`;
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    client.publish(
      this.statusTopic(),
      this.statusMessage('online'),
      { qos: 1, retain: true },
      () => undefined,
    );
  }

  async deliver(batch: OutboxMessage[], progress?: (n: number) => void): Promise<number> {
    const client = this.client;
    if (!client || !this.connected) return 0;
    const { topicPrefix, qos } = this.o.config;
    const lost = this.lost;
    // The whole window goes out at once (MQTT keeps the order on one connection); the delivered prefix
    // ends at the first publish that was not acknowledged.
    const acks = batch.map((m) => {
      const msg = renderMessage(m);
      const topic = topicFor(topicPrefix, msg.line, msg.lineId, msg.type);
      return Promise.race([
        client.publishAsync(topic, JSON.stringify(msg), { qos }).then(
          () => true,
          () => false,
        ),
        lost,
      ]);
    });
    let n = 0;
    for (const ack of acks) {
      if (!(await ack)) break;
      n++;
      progress?.(n);
    }
    return n;
  }

  /** Publish "offline" (retained) and disconnect cleanly, waiting briefly for acknowledgements. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    if (!client) return;
    const wasConnected = this.connected;
    this.connected = false;
    const timeout = new Promise<void>((r) => setTimeout(r, 2000).unref());
    if (wasConnected) {
      await Promise.race([
        client.publishAsync(this.statusTopic(), this.statusMessage('offline'), { qos: 1, retain: true }),
        timeout,
      ]).catch(() => undefined);
    }
    await Promise.race([client.endAsync(false), timeout]).catch(() => undefined);
    client.end(true);
    this.markLost(false);
  }
}
