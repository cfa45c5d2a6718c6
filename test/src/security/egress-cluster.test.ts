import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@nimbus/api';
import { loadClusterConfig } from '@nimbus/gateway/cluster/config';
import { type ClusterGateway, createClusterGateway } from '@nimbus/gateway/cluster/container';
import {
  type NatsServer,
  type RedisServer,
  eventually,
  send,
  startNatsServer,
  startRedisServer,
} from '@nimbus/testkit';
import { CallbackReceiver, postAsync, streamLastSeq } from '../harness/async-calls.js';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { REPORT_TOKEN } from '../harness/controller.js';
import { routeToReplica } from '../harness/endpoint-slice.js';
import { type RuntimeReplica, routableAddress, startRuntimeReplica } from '../harness/runtime-replica.js';

const ADMIN_KEY = 'admin-key-for-the-egress-cluster-suite';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
/** A component on this machine is refused by its port; one elsewhere by its host and port. */
const PLATFORM = /a port Nimbus itself listens on|a Nimbus component/;

/** A TCP listener standing in for a controller (the gateway's own reports reach it; callbacks must not). */
async function tcpTrap(): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('security: the cluster gateway keeps callbacks off the API server, controllers and internal names (real API server, Redis and NATS)', function () {
  this.timeout(120_000);
  let plane: ControlPlane;
  let redis: RedisServer;
  let nats: NatsServer;
  let ns: string;
  let replica: RuntimeReplica;
  let cluster: ClusterGateway;
  let base: string;
  let hooks: CallbackReceiver;
  let controller: Awaited<ReturnType<typeof tcpTrap>>;
  let apiPort: number;

  before(async () => {
    const host = routableAddress('IPv4');
    if (host === undefined) throw new Error('this machine has no non-loopback IPv4 address for replicas');
    [plane, redis, nats] = await Promise.all([sharedControlPlane(), startRedisServer(), startNatsServer()]);
    ns = await freshNamespace(plane, 'egress');
    replica = await startRuntimeReplica({
      host,
      code: 'export default async (event) => ({ done: event.body });',
      name: 'jobs',
      namespace: ns,
    });
    hooks = await CallbackReceiver.start();
    controller = await tcpTrap();
    apiPort = Number(new URL(plane.url).port);
    const config = loadClusterConfig({
      KUBECONFIG: plane.kubeconfigPath,
      NIMBUS_WATCH_NAMESPACES: ns,
      NIMBUS_API_KEYS: `admin:${ADMIN_KEY}`,
      NIMBUS_REDIS_URL: redis.url,
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_CONTROLLER_URLS: `http://127.0.0.1:${controller.port}`,
      NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
      // An operator who allowed too much: the receiver, but also the API server's and the
      // controller's ports. The platform's own endpoints stay refused whatever this says.
      NIMBUS_EGRESS_ALLOW: [hooks.url, plane.url, `http://127.0.0.1:${controller.port}`]
        .map((u) => `127.0.0.1:${new URL(u).port}`)
        .join(','),
      HOST: '127.0.0.1',
      PORT: '0',
    });
    cluster = createClusterGateway(config, { logger: createLogger({}, 'error', () => {}) });
    base = `http://127.0.0.1:${(await cluster.server.listen()).port}`;
    cluster.start();
    const created = await plane.request('POST', `/apis/nimbus.dev/v1alpha1/namespaces/${ns}/functions`, {
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name: 'jobs' },
      spec: { source: { inline: 'export default () => "the replica runs the suite\'s own code"' } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await routeToReplica(plane, ns, 'jobs', replica, base);
    await eventually(
      async () =>
        (await streamLastSeq(nats.monitorPort, 'NIMBUS_CALLS').catch(() => -1)) >= 0 ? true : undefined,
      15_000,
      'the calls stream',
    );
  });

  after(async () => {
    await cluster?.stop(1000);
    await replica?.stop();
    await hooks?.close();
    await controller?.close();
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  it('refuses the API server, a controller, internal names and metadata with 400, enqueuing nothing', async () => {
    const forms: [string, string, RegExp][] = [
      ['the API server', `${plane.url}/api/v1/secrets`, PLATFORM],
      ['the API server in hex', `https://0x7f000001:${apiPort}/api/v1/secrets`, PLATFORM],
      ['the controller', `http://127.0.0.1:${controller.port}/v1/wake`, PLATFORM],
      ['the controller as mapped IPv6', `http://[::ffff:7f00:1]:${controller.port}/v1/wake`, PLATFORM],
      [
        'the API server by its Service name',
        'https://kubernetes.default.svc/api/v1/secrets',
        /does not resolve here|Nimbus component/,
      ],
      ['a Service by its short name', 'http://nimbus-redis:6379/', /does not resolve here|private/],
      ['cloud metadata', 'http://169.254.169.254/computeMetadata/v1/', /link-local/],
      [
        'GCE metadata by name',
        'http://metadata.google.internal/computeMetadata/v1/',
        /does not resolve here|link-local/,
      ],
      ['Redis', `http://127.0.0.1:${redis.port}/`, PLATFORM],
      [
        'another loopback port',
        `http://127.0.0.1:${replica.port + 1}/`,
        /loopback address, which NIMBUS_EGRESS_ALLOW/,
      ],
    ];
    const before = await streamLastSeq(nats.monitorPort, 'NIMBUS_CALLS');
    for (const [n, [what, url, why]] of forms.entries()) {
      const id = `egress-cluster-${n}`;
      const reply = await postAsync(base, `jobs.${ns}`, { 'x-call-id': id, 'x-callback-url': url });
      assert.equal(reply.status, 400, `${what}: ${reply.status} ${reply.text}`);
      const body = reply.json<{ error: string; code: string }>();
      assert.equal(body.code, 'CallbackUrlRefused', what);
      assert.match(body.error, /^X-Callback-Url refused: /, what);
      assert.match(body.error, why, `${what}: ${body.error}`);
      assert.equal((await send(base, `/system/calls/${id}`, { headers: admin })).status, 404, what);
    }
    assert.equal(await streamLastSeq(nats.monitorPort, 'NIMBUS_CALLS'), before, 'no message was published');
  });

  it('delivers to the receiver the operator allowed', async () => {
    const reply = await postAsync(
      base,
      `jobs.${ns}`,
      { 'x-callback-url': hooks.url, 'content-type': 'text/plain' },
      'allowed',
    );
    assert.equal(reply.status, 202, reply.text);
    const id = String(reply.headers['x-call-id']);
    const [callback] = await eventually(async () => hooks.byId.get(id), 15_000, 'the callback');
    assert.equal(callback?.headers['x-call-status'], 'succeeded');
    assert.deepEqual(JSON.parse(callback?.body ?? '{}'), { done: 'allowed' });
  });
});
