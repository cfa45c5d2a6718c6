import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import { loadClusterConfig } from '@nimbus/gateway/cluster/config';
import { type ClusterGateway, createClusterGateway } from '@nimbus/gateway/cluster/container';
import { type NatsServer, type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import { type CallView, postAsync } from '../harness/async-calls.js';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { REPORT_TOKEN } from '../harness/controller.js';
import { routeToReplica } from '../harness/endpoint-slice.js';
import { type SecuredNats, startSecuredNats, untilCallsQueueReady } from '../harness/nats.js';
import { type RuntimeReplica, routableAddress, startRuntimeReplica } from '../harness/runtime-replica.js';

const ADMIN_KEY = 'admin-key-for-the-async-cluster-suite';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** `?fail=1` answers 503, as a function in trouble would. */
const CODE = `export default async (event) => {
  if (event.query.fail) return { statusCode: 503, body: 'in trouble' };
  return { served: process.env.NIMBUS_FUNCTION_NAME, body: event.body };
};`;

describe('async calls through the cluster gateway (real API server, Redis and NATS)', function () {
  this.timeout(120_000);
  let plane: ControlPlane;
  let redis: RedisServer;
  let nats: NatsServer;
  let secured: SecuredNats;
  let ns: string;
  let replica: RuntimeReplica;
  let cluster: ClusterGateway;
  let base: string;

  const call = async (id: string): Promise<CallView | undefined> => {
    const reply = await send(base, `/system/calls/${id}`, { headers: admin });
    return reply.status === 200 ? reply.json<CallView>() : undefined;
  };
  const final = (id: string, status: CallView['status']) =>
    eventually(
      async () => {
        const found = await call(id);
        return found?.status === status ? found : undefined;
      },
      20_000,
      `call ${id} to be ${status}`,
    );

  before(async () => {
    const host = routableAddress('IPv4');
    if (host === undefined) throw new Error('this machine has no non-loopback IPv4 address for replicas');
    [plane, redis, secured] = await Promise.all([
      sharedControlPlane(),
      startRedisServer(),
      startSecuredNats(),
    ]);
    nats = secured.server;
    ns = await freshNamespace(plane, 'async');
    replica = await startRuntimeReplica({ host, code: CODE, name: 'jobs', namespace: ns });
    const config = loadClusterConfig({
      KUBECONFIG: plane.kubeconfigPath,
      NIMBUS_WATCH_NAMESPACES: ns,
      NIMBUS_API_KEYS: `admin:${ADMIN_KEY}`,
      NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
      NIMBUS_REDIS_URL: redis.url,
      ...secured.env('gateway'),
      HOST: '127.0.0.1',
      PORT: '0',
    });
    cluster = createClusterGateway(config, { logger: createLogger({}, 'error', () => {}) });
    base = `http://127.0.0.1:${(await cluster.server.listen()).port}`;
    cluster.start();
    // The retry policy comes from the Function as the API server stored it, defaults filled in.
    const created = await plane.request('POST', `/apis/nimbus.dev/v1alpha1/namespaces/${ns}/functions`, {
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name: 'jobs' },
      spec: {
        source: { inline: 'export default () => "the replica runs the suite\'s own code"' },
        async: { maxAttempts: 2, backoff: { initial: '50ms', max: '100ms' } },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await routeToReplica(plane, ns, 'jobs', replica, base);
    await untilCallsQueueReady(secured);
  });

  after(async () => {
    await cluster?.stop(1000);
    await replica?.stop();
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  it('queues in NATS, runs the call on the replica, and keeps the record in Redis', async () => {
    const reply = await postAsync(base, `jobs.${ns}`, { 'content-type': 'text/plain' }, 'from the cluster');
    assert.equal(reply.status, 202, reply.text);
    const done = await final(reply.headers['x-call-id'] as string, 'succeeded');
    assert.deepEqual(JSON.parse(done.result?.body ?? '{}'), { served: 'jobs', body: 'from the cluster' });
  });

  it("retries by the Function's own policy (maxAttempts 2), then dead-letters the call", async () => {
    const reply = await postAsync(base, `jobs.${ns}?fail=1`);
    assert.equal(reply.status, 202, reply.text);
    const id = reply.headers['x-call-id'] as string;
    const failed = await final(id, 'failed');
    assert.equal(failed.attempts, 2);
    const letters = (
      await send(base, `/system/dead-letters?namespace=${ns}&function=jobs`, { headers: admin })
    ).json<{ entries: { id: string; lastError: string }[] }>();
    assert.deepEqual(
      letters.entries.map((e) => e.id),
      [id],
    );
    assert.match(letters.entries[0]?.lastError ?? '', /503: in trouble/);
  });

  it('needed nothing its least-privilege NATS user is denied', () => {
    assert.deepEqual(secured.violations(), []);
  });
});
