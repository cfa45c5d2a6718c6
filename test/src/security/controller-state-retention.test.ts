import assert from 'node:assert/strict';
import { KubeClient, RESOURCES, loadKubeConfig } from '@nimbus/kube';
import { type RedisStores, createRedisStores } from '@nimbus/store';
import { ManualClock, type RedisServer, eventually, startRedisServer } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { type RunningController, counterValue, startController } from '../harness/controller.js';

const ADMIN_PASSWORD = 'retention-admin-0123456789';
const HOUR = 3_600_000;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}
interface Stored {
  metadata: { generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

/**
 * Data loss by accident: turning spec.state off used to delete a function's keys at once, with no
 * way back. Against a real redis-server and API server, with the controller on a manual clock:
 * turning state off keeps the keys (and says so in the status) unless deletion is asked for,
 * deleting the Function removes them, Delete removes them at once, and retainFor runs out only as
 * the clock is stepped past it.
 */
describe('security: state keys are kept unless deletion is asked for', function () {
  this.timeout(3 * 60_000);
  let plane: ControlPlane;
  let namespace: string;
  let client: KubeClient;
  let redis: RedisServer;
  let admin: RedisStores;
  let running: RunningController;
  const clock = new ManualClock(Date.now());

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'sec-state');
    client = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
    redis = await startRedisServer({ args: ['--requirepass', ADMIN_PASSWORD] });
    const adminUrl = `redis://:${ADMIN_PASSWORD}@127.0.0.1:${redis.port}`;
    admin = createRedisStores(adminUrl);
    running = await startController(
      plane,
      namespace,
      {
        NIMBUS_REDIS_URL: adminUrl,
        NIMBUS_STATE_SERVICE_URL: 'http://nimbus-gateway-state.nimbus.svc:8082',
        NIMBUS_STATE_KEY: 'retention-state-key-0123456789abcdef',
      },
      { clock },
    );
  });

  after(async () => {
    await running?.stop();
    client?.close();
    await admin?.close();
    await redis?.stop();
  });

  const path = (name: string) => `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions/${name}`;
  const keysOf = (name: string) =>
    admin.connection.run('KEYS', (c) => c.keys(`nimbus:state:${namespace}:${name}:*`));
  const userOf = (name: string) =>
    admin.connection.run('ACL GETUSER', (c) => c.call('ACL', 'GETUSER', `nimbus-fn:${namespace}:${name}`));
  const secretOf = async (name: string) =>
    (await plane.request('GET', `/api/v1/namespaces/${namespace}/secrets/${name}-state`)).status;

  /**
   * Polls `check` (every 20 ms), stepping the controller's clock 10 ms each time, so a retry after
   * a conflict still runs (backoff from 200 ms) while a wait of 20 s moves it at most 10 s.
   */
  const until = <T>(check: () => Promise<T | undefined>, what: string, stepMs = 10): Promise<T> =>
    eventually(
      async () => {
        clock.advance(stepMs);
        return check();
      },
      30_000,
      what,
    );

  /**
   * The Function's condition of `type` once it has `reason`, judged on the current generation.
   * `stepMs`: how far each poll moves the clock; larger once the time that matters has passed, so
   * a reconcile that failed on a busy machine (a conflict) is retried within the wait.
   */
  const condition = (name: string, type: string, reason: string, stepMs = 10) =>
    until(
      async () => {
        const fn = (await plane.request<Stored>('GET', path(name))).body;
        const c = fn.status?.conditions?.find((x) => x.type === type);
        return c?.reason === reason && fn.status?.observedGeneration === fn.metadata.generation
          ? c
          : undefined;
      },
      `${name}: ${type} ${reason}`,
      stepMs,
    );

  /** A Function with state, ready, holding one key. */
  async function withKeys(name: string): Promise<void> {
    const created = await plane.request(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name },
        spec: { source: { inline: 'export default () => 1' }, state: { enabled: true } },
      },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await condition(name, 'StateReady', 'TokenReady');
    await admin.state.scoped(namespace, name).set('cart', { items: 3 });
    assert.equal((await keysOf(name)).length, 1);
  }

  const setState = (name: string, state: Record<string, unknown>) =>
    client.mergePatch(RESOURCES.functions, namespace, name, { spec: { state } });

  it('turning state off keeps the keys, revokes the login, and says so; on again finds them', async () => {
    await withKeys('kept');
    await setState('kept', { enabled: false });
    const retained = await condition('kept', 'StateRetained', 'Retained');
    assert.equal(retained.status, 'True');
    assert.match(retained.message ?? '', /kept until the Function is deleted/);
    assert.equal((await keysOf('kept')).length, 1, 'the keys are still in Redis');
    assert.equal(await userOf('kept'), null, 'no Redis user (functions never get one)');
    assert.equal(await secretOf('kept'), 404, 'its token Secret is gone');

    // A later reconcile (the resync, stepped past) keeps them too.
    const before = await counterValue(running.registry, 'nimbus_controller_reconciles_total');
    clock.advance(11 * 60_000);
    await until(
      async () =>
        (await counterValue(running.registry, 'nimbus_controller_reconciles_total')) > before
          ? true
          : undefined,
      'a resync',
    );
    assert.equal((await keysOf('kept')).length, 1);

    await setState('kept', { enabled: true });
    await condition('kept', 'StateReady', 'TokenReady');
    assert.deepEqual((await admin.state.scoped(namespace, 'kept').get('cart'))?.value, { items: 3 });
    const fn = (await plane.request<Stored>('GET', path('kept'))).body;
    assert.ok(!fn.status?.conditions?.some((c) => c.type === 'StateRetained'), 'no StateRetained while on');
  });

  it('deleting the Function removes the kept keys, then lets it go', async () => {
    await setState('kept', { enabled: false });
    await condition('kept', 'StateRetained', 'Retained');
    const bystander = await keysOf('kept');
    assert.equal(bystander.length, 1);
    assert.equal((await plane.request('DELETE', path('kept'))).status, 200);
    await until(
      async () => ((await plane.request('GET', path('kept'))).status === 404 ? true : undefined),
      'kept gone',
    );
    assert.deepEqual(await keysOf('kept'), []);
  });

  it('deletionPolicy Delete removes the keys at once, and the status says so', async () => {
    await withKeys('dropped');
    await setState('dropped', { enabled: false, deletionPolicy: 'Delete' });
    const deleted = await condition('dropped', 'StateRetained', 'KeysDeleted');
    assert.equal(deleted.status, 'False');
    assert.match(deleted.message ?? '', /deletionPolicy is Delete: its keys were deleted/);
    assert.deepEqual(await keysOf('dropped'), []);
  });

  it('retainFor keeps the keys until the clock passes it, then deletes them', async () => {
    await withKeys('timed');
    await withKeys('neighbour');
    await setState('timed', { enabled: false, retainFor: '2h' });
    const kept = await condition('timed', 'StateRetained', 'RetainedUntil');
    const at = /kept until (\S+Z)/.exec(kept.message ?? '')?.[1];
    assert.ok(at !== undefined, kept.message);
    const deadline = Date.parse(at);
    assert.ok(
      Math.abs(deadline - (Date.parse(kept.lastTransitionTime ?? '') + 2 * HOUR)) < 1000,
      kept.message,
    );

    // Ten minutes short of it, after a resync has reconciled the Function again: still there.
    const before = await counterValue(running.registry, 'nimbus_controller_reconciles_total');
    clock.advance(deadline - clock.now() - 10 * 60_000);
    await until(
      async () =>
        (await counterValue(running.registry, 'nimbus_controller_reconciles_total')) > before
          ? true
          : undefined,
      'a reconcile short of the deadline',
    );
    assert.equal((await keysOf('timed')).length, 1, 'kept until the deadline');
    await condition('timed', 'StateRetained', 'RetainedUntil');

    // Past it: the reconcile queued for that time deletes them, and nothing else.
    clock.advance(deadline - clock.now() + 1000);
    // Past the deadline nothing depends on how far past: step 250 ms a poll.
    const gone = await condition('timed', 'StateRetained', 'KeysDeleted', 250);
    assert.match(gone.message ?? '', /retainFor \(2h\) has passed/);
    assert.deepEqual(await keysOf('timed'), []);
    assert.equal((await keysOf('neighbour')).length, 1, "another function's keys are untouched");
  });
});
