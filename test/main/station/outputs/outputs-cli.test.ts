// The outputs on the command line: `station serve --opcua-port N` (a real child process) starts the OPC UA
// server with Sign&Encrypt and a user whose password it makes and prints once (stored: the next run keeps
// it), `--opcua-anonymous` adds anonymous sessions; options that need another one are usage errors before
// anything runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import {
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
} from 'node-opcua';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../helpers/cli';
import { tempDir } from '../../../helpers/fixtures';
import { waitFor } from '../../../helpers/station-fixtures';

const t = tempDir();
const children: ChildProcess[] = [];
afterAll(() => {
  children.forEach((c) => c.kill('SIGKILL'));
  t.cleanup();
});

function serve(...extra: string[]) {
  const c = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      resolve('src/main/cli/index.ts'),
      'serve',
      '--data-dir',
      join(t.dir, 'data'),
      '--port',
      '0',
      '--backend',
      'wasm',
      '--opcua-port',
      '0',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STATION_OPCUA_PASSWORD: '' } },
  );
  children.push(c);
  const io = { out: '', err: '' };
  c.stdout!.on('data', (d: Buffer) => (io.out += d.toString()));
  c.stderr!.on('data', (d: Buffer) => (io.err += d.toString()));
  return { c, io };
}

async function stop(c: ChildProcess): Promise<void> {
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGINT');
  await gone;
}

/** The user token types the server's endpoints offer, read over the unsecured discovery channel. */
async function tokenTypes(url: string): Promise<{ modes: string[]; tokens: string[] }> {
  const client = OPCUAClient.create({
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: join(t.dir, 'probe-pki'),
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
  await client.connect(url);
  const endpoints = await client.getEndpoints();
  await client.disconnect();
  return {
    modes: [...new Set(endpoints.map((e) => MessageSecurityMode[e.securityMode]))],
    tokens: [
      ...new Set(
        endpoints.flatMap((e) => (e.userIdentityTokens ?? []).map((u) => UserTokenType[u.tokenType])),
      ),
    ].sort(),
  };
}

describe('station serve --opcua-port', () => {
  it('serves Sign&Encrypt with a made, printed and stored password; --opcua-anonymous adds anonymous', async () => {
    const first = serve();
    const listening = /\[opcua: listening\] listening on (opc\.tcp:\/\/127\.0\.0\.1:\d+)/;
    await waitFor('the OPC UA server', () => listening.test(first.io.err), 60_000);
    expect(first.io.out).toMatch(/OPC UA user "plc", password [\w-]{16} \(made now and stored/);
    const url = listening.exec(first.io.err)![1];
    expect(await tokenTypes(url)).toEqual({ modes: ['SignAndEncrypt'], tokens: ['Certificate', 'UserName'] });
    await stop(first.c);

    // Stored: the next run neither makes nor prints a password.
    const second = serve('--opcua-anonymous');
    await waitFor('the OPC UA server again', () => listening.test(second.io.err), 60_000);
    expect(second.io.out).not.toMatch(/password/);
    const again = await tokenTypes(listening.exec(second.io.err)![1]);
    expect(again.tokens).toEqual(['Anonymous', 'Certificate', 'UserName']);
    await stop(second.c);
  }, 120_000);

  it('refuses OPC UA or MQTT options that need another one, before doing anything', async () => {
    const a = await runCli('serve', '--opcua-anonymous');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--opcua-anonymous need --opcua-port N/);
    const b = await runCli('serve', '--opcua-port', '70000');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--opcua-port must be a port number/);
    const c = await runCli('watch', t.dir, '--model', t.dir, '--mqtt-topic', 'plant');
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/--mqtt-topic and --mqtt-user need --mqtt URL/);
  });
});
