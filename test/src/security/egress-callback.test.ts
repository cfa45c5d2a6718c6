import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import {
  type NatsServer,
  type RedisServer,
  type Reply,
  eventually,
  send,
  startNatsServer,
  startRedisServer,
} from '@nimbus/testkit';
import { CallbackReceiver, admin, callReaches, postAsync, streamLastSeq } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';

const ECHO = inlineFunction(
  'echo',
  'export default async (event) => ({ echoed: event.body });',
  'scale:\n  min: 1\n  max: 1',
);

/** A TCP listener that counts the connections it is offered: a stand-in for a private service. */
async function tcpTrap(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => count,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The 400 an attack must get: JSON naming X-Callback-Url, and the code saying why. */
function assertRefused(reply: Reply, what: string): void {
  assert.equal(reply.status, 400, `${what}: ${reply.status} ${reply.text}`);
  const body = reply.json<{ error: string; code: string }>();
  assert.match(body.error, /X-Callback-Url/, what);
  assert.ok(['CallbackUrlRefused', 'InvalidCallbackUrl'].includes(body.code), `${what}: ${body.code}`);
}

describe('security: X-Callback-Url cannot reach the platform, metadata or private addresses (local mode, real Redis and NATS)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let nats: NatsServer;
  let platform: LocalModeProcess;
  let dir: string;
  let hooks: CallbackReceiver;
  let gatewayPort: number;
  /** Every port a runtime process (replica or warm pool) said it listens on. */
  let runtimePorts: number[];
  let poolPorts: number[];
  let sequence = 0;

  /** POSTs an async call with this callback URL under a fresh call id. */
  const attempt = async (callbackUrl: string) => {
    const id = `egress-attack-${++sequence}`;
    const reply = await postAsync(
      platform.url,
      'echo',
      { 'x-call-id': id, 'x-callback-url': callbackUrl, 'content-type': 'text/plain' },
      'payload',
    );
    return { id, reply };
  };

  before(async () => {
    [redis, nats] = await Promise.all([startRedisServer(), startNatsServer()]);
    dir = await functionsFolder({ 'echo.yaml': ECHO });
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_REDIS_URL: redis.url,
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_WARM_POOL_SIZE: '1',
    });
    gatewayPort = Number(new URL(platform.url).port);
    hooks = await CallbackReceiver.start();
    await eventually(
      async () => ((await send(platform.url, '/function/echo')).status === 200 ? true : undefined),
      20_000,
      'echo to have a ready replica',
    );
    // The replica (a pool member taken over, or a process of its own) and an idle pool member.
    const listening = () => platform.logs.filter((l) => l.msg === 'listening' && typeof l.port === 'number');
    await eventually(
      async () => (new Set(listening().map((l) => l.port)).size >= 2 ? true : undefined),
      15_000,
      'a replica and an idle pool member to listen',
    );
    runtimePorts = [...new Set(listening().map((l) => l.port as number))];
    poolPorts = listening()
      .filter((l) => l.pool === true)
      .map((l) => l.port as number);
    // The gateway sets the streams up in the background once it reaches NATS.
    await eventually(
      async () =>
        (await streamLastSeq(nats.monitorPort, 'NIMBUS_CALLS').catch(() => -1)) >= 0 ? true : undefined,
      15_000,
      'the calls stream',
    );
  });

  after(async () => {
    await platform?.stop();
    await hooks?.close();
    await Promise.all([nats?.stop(), redis?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('refuses every forbidden form with 400 naming X-Callback-Url, and enqueues nothing', async () => {
    assert.ok(runtimePorts.length >= 2, `replica and pool ports: ${runtimePorts}`);
    const newestPool = poolPorts.at(-1) as number;
    const forms: [string, string][] = [
      ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
      ['the AWS IPv6 metadata address', 'http://[fd00:ec2::254]/latest/meta-data/'],
      ['metadata in hex octets', 'http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/'],
      ['the gateway in hex (0x7f000001)', `http://0x7f000001:${gatewayPort}/system/functions`],
      ['Redis in decimal (2130706433)', `http://2130706433:${redis.port}/`],
      ['NATS in octal (0177.0.0.1)', `http://0177.0.0.1:${nats.port}/`],
      ['an idle pool process as IPv4-mapped IPv6', `http://[::ffff:127.0.0.1]:${newestPool}/_/specialise`],
      ['the gateway through localhost', `http://localhost:${gatewayPort}/function/echo`],
      ['the gateway through 0.0.0.0', `http://0.0.0.0:${gatewayPort}/`],
      ['Redis', `http://127.0.0.1:${redis.port}/`],
      ['NATS through ::1', `http://[::1]:${nats.port}/`],
      ['a private address', 'http://10.0.0.1/hook'],
      ['CGNAT', 'http://100.64.0.1/hook'],
      ['the Kubernetes API by name', 'https://kubernetes.default.svc/api/v1/secrets'],
      ['userinfo hiding the real host', `http://hooks.example.com@127.0.0.1:${redis.port}/`],
      ['userinfo to an allowed receiver', hooks.url.replace('http://', 'http://user:secret@')],
      ['a non-http scheme', `gopher://127.0.0.1:${redis.port}/_FLUSHALL`],
      ...runtimePorts.map((port): [string, string] => [
        `a runtime process (replica or pool) on ${port}`,
        `http://127.0.0.1:${port}/_/specialise`,
      ]),
    ];
    const before = await streamLastSeq(nats.monitorPort, 'NIMBUS_CALLS');
    for (const [what, url] of forms) {
      const { id, reply } = await attempt(url);
      assertRefused(reply, what);
      assert.equal((await send(platform.url, `/system/calls/${id}`, { headers: admin })).status, 404, what);
    }
    assert.equal(await streamLastSeq(nats.monitorPort, 'NIMBUS_CALLS'), before, 'no message was published');
    assert.equal(hooks.count, 0);
  });

  it('says what was refused: the address, the port and why, without echoing credentials', async () => {
    const metadata = (await attempt('http://169.254.169.254/latest/meta-data/')).reply.json<{
      error: string;
    }>();
    assert.match(metadata.error, /169\.254\.169\.254 port 80 is a link-local address/);
    const pool = (await attempt(`http://[::ffff:127.0.0.1]:${poolPorts.at(-1)}/`)).reply.json<{
      error: string;
    }>();
    assert.match(
      pool.error,
      /127\.0\.0\.1 \(in IPv4-mapped IPv6 .*\) port \d+ is a port Nimbus itself listens on/,
    );
    const byName = (await attempt(`http://localhost:${gatewayPort}/`)).reply.json<{ error: string }>();
    assert.match(
      byName.error,
      new RegExp(`localhost port ${gatewayPort} resolves to a port Nimbus itself listens on`),
    );
    const creds = (await attempt('http://user:hunter2@hooks.example.com/')).reply.json<{ error: string }>();
    assert.match(creds.error, /credentials/);
    assert.doesNotMatch(creds.error, /hunter2/);
  });

  it('follows the replicas as they come: a port started by a rollout is refused too', async () => {
    const known = new Set(runtimePorts);
    const listening = () =>
      platform.logs
        .filter((l) => l.msg === 'listening' && typeof l.port === 'number')
        .map((l) => l.port as number);
    await writeFile(
      join(dir, 'echo.yaml'),
      inlineFunction('echo', 'export default async () => ({ version: 2 });', 'scale:\n  min: 1\n  max: 1'),
    );
    await eventually(
      async () =>
        (await send(platform.url, '/function/echo')).text.includes('"version":2') ? true : undefined,
      20_000,
      'the new revision to serve',
    );
    const fresh = await eventually(
      async () => {
        const ports = [...new Set(listening())].filter((p) => !known.has(p));
        return ports.length > 0 ? ports : undefined;
      },
      15_000,
      'a process started after the rollout to listen',
    );
    for (const port of fresh)
      assertRefused((await attempt(`http://127.0.0.1:${port}/_/specialise`)).reply, `new port ${port}`);
    await writeFile(join(dir, 'echo.yaml'), ECHO);
    await eventually(
      async () => {
        const reply = await send(platform.url, '/function/echo');
        return reply.status === 200 && !reply.text.includes('"version":2') ? true : undefined;
      },
      20_000,
      'the first revision to serve again',
    );
  });

  it('still delivers to an allowed receiver on loopback, and the platform serves as before', async () => {
    const { id, reply } = await attempt(hooks.url);
    assert.equal(reply.status, 202, reply.text);
    await callReaches(platform.url, id, 'succeeded');
    const [callback] = await eventually(async () => hooks.byId.get(id), 10_000, 'the callback');
    assert.equal(callback?.headers['x-call-status'], 'succeeded');
    assert.deepEqual(JSON.parse(callback?.body ?? '{}'), { echoed: 'payload' });
    assert.equal((await send(platform.url, '/function/echo')).status, 200);
  });
});

describe('security: NIMBUS_EGRESS_ALLOW lets exactly what it names through (local mode)', function () {
  this.timeout(60_000);
  let platform: LocalModeProcess;
  let dir: string;
  let hooks: CallbackReceiver;
  let trap: Awaited<ReturnType<typeof tcpTrap>>;

  before(async () => {
    hooks = await CallbackReceiver.start();
    trap = await tcpTrap();
    dir = await functionsFolder({ 'echo.yaml': ECHO });
    // Only the receiver's port: loopback as a whole is no longer allowed.
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_EGRESS_ALLOW: `127.0.0.1:${new URL(hooks.url).port}`,
      NIMBUS_WARM_POOL_SIZE: '0',
    });
    await eventually(
      async () => ((await send(platform.url, '/function/echo')).status === 200 ? true : undefined),
      20_000,
      'echo to have a ready replica',
    );
  });

  after(async () => {
    await platform?.stop();
    await hooks?.close();
    await trap?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('refuses other loopback ports in every spelling, and never connects to them', async () => {
    const forms = [
      `http://127.0.0.1:${trap.port}/`,
      `http://0x7f000001:${trap.port}/`,
      `http://2130706433:${trap.port}/`,
      `http://0177.0.0.1:${trap.port}/`,
      `http://[::ffff:127.0.0.1]:${trap.port}/`,
      `http://localhost:${trap.port}/`,
      `http://127.0.0.2:${new URL(hooks.url).port}/`,
    ];
    for (const [n, url] of forms.entries()) {
      const id = `allow-list-${n}`;
      const reply = await postAsync(platform.url, 'echo', { 'x-call-id': id, 'x-callback-url': url });
      assertRefused(reply, url);
      assert.match(reply.json<{ error: string }>().error, /NIMBUS_EGRESS_ALLOW does not allow/, url);
      assert.equal((await send(platform.url, `/system/calls/${id}`, { headers: admin })).status, 404, url);
    }
    assert.equal(trap.connections(), 0);
  });

  it('delivers to the receiver it names', async () => {
    const reply = await postAsync(
      platform.url,
      'echo',
      { 'x-callback-url': hooks.url, 'content-type': 'text/plain' },
      'hello',
    );
    assert.equal(reply.status, 202, reply.text);
    const id = String(reply.headers['x-call-id']);
    const [callback] = await eventually(async () => hooks.byId.get(id), 15_000, 'the callback');
    assert.deepEqual(JSON.parse(callback?.body ?? '{}'), { echoed: 'hello' });
  });
});
