// A real MQTT broker for the tests: Debian's mosquitto (installed by .ci/run), started on a free loopback port
// with its own config, persistence and (optionally) a password file, and stopped or restarted on demand. Also a
// recording subscriber (the mqtt client) that keeps every message it receives in order.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { waitFor } from './station-fixtures';

/** Where mosquitto is: $MOSQUITTO, Debian's /usr/sbin/mosquitto, or on the PATH; null when not installed. */
export function findMosquitto(): string | null {
  const candidates = [process.env.MOSQUITTO, '/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  const r = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export interface Broker {
  port: number;
  url: string;
  /** Start (again, on the same port, with the messages it persisted). */
  start(): Promise<void>;
  /** Stop cleanly (SIGTERM: mosquitto writes its persistence file) and wait until it is gone. */
  stop(): Promise<void>;
  /** Its log (stderr), for failure messages. */
  log(): string;
}

/**
 * Start mosquitto in `dir` on a free 127.0.0.1 port. `users`: name -> password, and anonymous clients are then
 * refused. Persistence is on, so queued messages for persistent sessions survive a stop/start.
 */
export async function startMosquitto(
  dir: string,
  o: { users?: Record<string, string> } = {},
): Promise<Broker> {
  const bin = findMosquitto();
  if (!bin) throw new Error('mosquitto is not installed (apt install mosquitto)');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    `persistence true`,
    `persistence_location ${dir}/`,
    `autosave_interval 0`,
    `log_dest stderr`,
    `log_type error`,
    `log_type warning`,
    `log_type notice`,
    `max_queued_messages 100000`,
  ];
  // As root mosquitto drops to the "mosquitto" user unless told otherwise; that user cannot read our temp dir.
  if (process.getuid?.() === 0) lines.push(`user ${userInfo().username}`);
  if (o.users) {
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, '');
    for (const [name, password] of Object.entries(o.users)) {
      const r = spawnSync('mosquitto_passwd', ['-b', passwd, name, password], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr || r.error?.message}`);
    }
    lines.push(`allow_anonymous false`, `password_file ${passwd}`);
  } else {
    lines.push(`allow_anonymous true`);
  }
  writeFileSync(conf, lines.join('\n') + '\n');
  let child: ChildProcess | null = null;
  let log = '';
  const broker: Broker = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    log: () => log,
    async start() {
      if (child) return;
      const c = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      child = c;
      c.once('exit', () => {
        if (child === c) child = null;
      });
      await waitFor(
        `mosquitto on port ${port} (log: ${log})`,
        async () => (await portOpen(port)) || !child,
        10_000,
      );
      if (!child) throw new Error(`mosquitto exited at start: ${log}`);
    },
    async stop() {
      const c = child;
      if (!c) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await gone;
      child = null;
    },
  };
  await broker.start();
  return broker;
}

export interface Received {
  topic: string;
  payload: string;
  json: Record<string, unknown>;
  retain: boolean;
  /** performance.now() at arrival. */
  at: number;
}

/**
 * A subscriber that records every message on `topics` in arrival order. A persistent session (clean: false,
 * QoS 1) so the broker queues what arrives while it is disconnected, e.g. across a broker restart.
 */
export async function subscriber(
  url: string,
  topics: string[],
  o: { clientId?: string; username?: string; password?: string } = {},
): Promise<{ client: MqttClient; messages: Received[]; close: () => Promise<void> }> {
  const messages: Received[] = [];
  const client = await mqtt.connectAsync(url, {
    clientId: o.clientId ?? `test-sub-${Math.random().toString(16).slice(2, 10)}`,
    clean: false,
    reconnectPeriod: 200,
    username: o.username,
    password: o.password,
  });
  client.on('message', (topic, payload, packet) => {
    const text = payload.toString();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // recorded as text
    }
    messages.push({ topic, payload: text, json, retain: packet.retain, at: performance.now() });
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, messages, close: () => client.endAsync(true) };
}
