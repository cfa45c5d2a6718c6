import assert from 'node:assert/strict';
import type { FunctionStatus } from '@nimbus/api';
import { type JetStreamBus, ORDERED_WINDOW, SOURCES_STREAM, sourceConsumerName } from '@nimbus/bus';
import { RESOURCES } from '@nimbus/kube';
import { triggerSecretMirrorName } from '@nimbus/sources';
import { type PostgresServer, eventually, startPostgresServer } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { REPORT_TOKEN, type RunningController, startController } from '../harness/controller.js';
import { type SecuredNats, TEST_ADMIN, startSecuredNats } from '../harness/nats.js';

interface Stored {
  metadata: { name: string; finalizers?: string[] };
  status?: FunctionStatus;
}

interface Secret {
  metadata: { name: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

describe('the controller sets up source triggers: Secrets copied only when they opt in, origins provisioned and cleaned up, health in status', function () {
  this.timeout(150_000);
  let plane: ControlPlane;
  let nats: SecuredNats;
  let bus: JetStreamBus;
  let postgres: PostgresServer;
  let controller: RunningController;
  let ns: string;
  let platform: string;

  before(async () => {
    plane = await sharedControlPlane();
    [ns, platform] = await Promise.all([freshNamespace(plane, 'sources'), freshNamespace(plane, 'platform')]);
    [nats, postgres] = await Promise.all([startSecuredNats(), startPostgresServer()]);
    await postgres.sql('CREATE TABLE orders (id int PRIMARY KEY, item text)');
    bus = await nats.connect(TEST_ADMIN);
    controller = await startController(plane, ns, {
      ...nats.env('controller'),
      NIMBUS_PLATFORM_NAMESPACE: platform,
      NIMBUS_TRIGGER_SECRET_CHECK_MS: '500',
    });
  });

  after(async function () {
    this.timeout(30_000);
    await controller?.stop();
    await bus?.close();
    await Promise.all([nats?.stop(), postgres?.stop()]);
  });

  const fnPath = (name = '') =>
    `/apis/nimbus.dev/v1alpha1/namespaces/${ns}/functions${name ? `/${name}` : ''}`;
  const secret = async (name: string, data: Record<string, string>, optIn: boolean) => {
    const reply = await plane.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, labels: optIn ? { 'nimbus.dev/trigger-secret': 'true' } : {} },
      stringData: data,
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
  };
  const create = async (name: string, triggers: unknown[]) => {
    const reply = await plane.request('POST', fnPath(), {
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name },
      spec: { source: { inline: 'export default () => 1' }, triggers },
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
  };
  const status = async (name: string) => (await plane.request<Stored>('GET', fnPath(name))).body.status;
  const condition = (name: string, reason: string) =>
    eventually(
      async () => {
        const found = (await status(name))?.conditions?.find((c) => c.type === 'TriggersReady');
        return found?.reason === reason ? found : undefined;
      },
      30_000,
      `${name}: TriggersReady ${reason}`,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; status: ${JSON.stringify(await status(name))}`);
    });
  const mirror = async (fn: string) => {
    const reply = await plane.request<Secret>(
      'GET',
      `/api/v1/namespaces/${platform}/secrets/${triggerSecretMirrorName(ns, fn)}`,
    );
    return reply.status === 404 ? undefined : reply.body;
  };
  const slots = async () =>
    (await postgres.sql("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'nimbus_%'"))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('nimbus_'));
  const report = (sources: Record<string, unknown>) =>
    fetch(`${controller.base}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${REPORT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reporter: 'gateway-a', functions: {}, sources }),
    });

  it('a Postgres trigger: its Secret copied beside the gateway, a slot made, a durable, TriggersReady', async () => {
    await secret('shop-db', { url: postgres.url() }, true);
    await create('orders', [
      { name: 'db', postgres: { connection: { name: 'shop-db', key: 'url' }, tables: ['orders'] } },
    ]);
    const ready = await condition('orders', 'TriggersReady');
    assert.equal(ready.status, 'True');
    const copy = await eventually(() => mirror('orders'), 10_000, 'the copy');
    assert.equal(Buffer.from(copy.data?.['shop-db.url'] ?? '', 'base64').toString(), postgres.url());
    assert.equal(copy.metadata.annotations?.['nimbus.dev/function'], `${ns}/orders`);
    assert.equal((await slots()).length, 1);
    const durable = await bus.consumerInfo(
      SOURCES_STREAM,
      sourceConsumerName({ namespace: ns, function: 'orders', name: 'db' }),
    );
    assert.equal(
      durable?.config.maxAckPending,
      ORDERED_WINDOW,
      'commit order: a window its lease holder delivers in line',
    );
    const triggers = (await status('orders'))?.triggers;
    assert.equal(triggers?.[0]?.name, 'db');
    assert.equal(triggers?.[0]?.ready, true);
  });

  it('attack: a Secret that does not opt in is never copied, and the trigger says why', async () => {
    await secret('not-offered', { key: 'a-secret-someone-else-owns' }, false);
    await create('nosy', [{ name: 'hook', webhook: { secret: { name: 'not-offered', key: 'key' } } }]);
    const refused = await condition('nosy', 'TriggerSecretNotOptedIn');
    assert.equal(refused.status, 'False');
    assert.match(
      refused.message ?? '',
      /spec\.triggers\[hook\]\.webhook: Secret not-offered does not opt in/,
    );
    const copy = await mirror('nosy');
    assert.equal(copy?.data?.['not-offered.key'], undefined);
    assert.doesNotMatch(JSON.stringify(copy ?? {}), /YS1zZWNyZXQ|a-secret-someone-else-owns/);
  });

  it('a URL of another scheme is TriggerMisconfigured, a Secret not there TriggerSecretNotFound (as local mode says)', async () => {
    // The faults test/src/e2e/trigger-health.test.ts gives local mode: the same reasons, the same words.
    await secret('shop-db-http', { url: 'http://db.example:5432/shop' }, true);
    await create('faulty', [
      {
        name: 'wrong-scheme',
        postgres: { connection: { name: 'shop-db-http', key: 'url' }, tables: ['orders'] },
      },
      { name: 'unset', webhook: { secret: { name: 'hook-unset', key: 'secret' } } },
    ]);
    const triggers = await eventually(
      async () => {
        const found = (await status('faulty'))?.triggers;
        return found?.length === 2 ? found : undefined;
      },
      30_000,
      'the triggers of faulty in its status',
    );
    const [scheme, unset] = triggers;
    assert.deepEqual(
      [scheme?.name, scheme?.ready, scheme?.reason, scheme?.message],
      [
        'wrong-scheme',
        false,
        'TriggerMisconfigured',
        'spec.triggers[wrong-scheme]: is a http: URL, not postgres://',
      ],
    );
    assert.deepEqual([unset?.name, unset?.ready, unset?.reason], ['unset', false, 'TriggerSecretNotFound']);
    assert.match(unset?.message ?? '', /^spec\.triggers\[unset\]\.webhook: /);
  });

  it('a Secret rotated: its copy is written again with no change to the Function; unoffered, the key goes', async () => {
    await secret('hook-key', { key: 'signing-secret-one' }, true);
    await create('signed', [{ name: 'hook', webhook: { secret: { name: 'hook-key', key: 'key' } } }]);
    await condition('signed', 'TriggersReady');
    const copied = (value: string) =>
      eventually(
        async () => {
          const data = (await mirror('signed'))?.data?.['hook-key.key'];
          const text = data === undefined ? undefined : Buffer.from(data, 'base64').toString();
          return text === value ? true : undefined;
        },
        30_000,
        'the copy to hold the value written last',
      );
    await copied('signing-secret-one');
    const base64 = (text: string) => Buffer.from(text).toString('base64');
    await controller.client.mergePatch(RESOURCES.secrets, ns, 'hook-key', {
      data: { key: base64('signing-secret-two') },
    });
    await copied('signing-secret-two');
    // No longer offered: the next copy leaves it out, and the trigger says why.
    await controller.client.mergePatch(RESOURCES.secrets, ns, 'hook-key', {
      metadata: { labels: { 'nimbus.dev/trigger-secret': null } },
    });
    await condition('signed', 'TriggerSecretNotOptedIn');
    assert.equal((await mirror('signed'))?.data?.['hook-key.key'], undefined);
  });

  it("a gateway's report of a disconnected reader turns the trigger not ready, with its error", async () => {
    const sent = await report({ [`${ns}/orders/db`]: { connected: false, lastError: 'connection refused' } });
    assert.equal(sent.status, 204);
    const down = await condition('orders', 'Disconnected');
    assert.match(down.message ?? '', /connection refused/);
    assert.equal((await status('orders'))?.triggers?.[0]?.connected, false);
    await report({ [`${ns}/orders/db`]: { connected: true, backlog: 42, lastEventAt: Date.now() } });
    await condition('orders', 'TriggersReady');
  });

  it('a malformed or unauthenticated report is refused and changes nothing', async () => {
    const forged = await fetch(`${controller.base}/v1/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        reporter: 'x',
        functions: {},
        sources: { [`${ns}/orders/db`]: { connected: false } },
      }),
    });
    assert.equal(forged.status, 401);
    const bad = await report({ '../../etc': { connected: 'yes' } });
    assert.equal(bad.status, 400);
  });

  it('a trigger removed from the spec: its slot, durable and copy go', async () => {
    await controller.client.mergePatch(RESOURCES.functions, ns, 'orders', { spec: { triggers: [] } });
    await eventually(
      async () => ((await slots()).length === 0 ? true : undefined),
      30_000,
      'the slot dropped',
    );
    await eventually(
      async () => ((await mirror('orders')) === undefined ? true : undefined),
      30_000,
      'the copy gone',
    );
    const durable = await bus.consumerInfo(
      SOURCES_STREAM,
      sourceConsumerName({ namespace: ns, function: 'orders', name: 'db' }),
    );
    assert.equal(durable, undefined);
  });

  it('a Function deleted: its finalizer removes the slot and the copy before it goes', async () => {
    await create('ledger', [
      { name: 'db', postgres: { connection: { name: 'shop-db', key: 'url' }, tables: ['orders'] } },
    ]);
    await condition('ledger', 'TriggersReady');
    assert.equal((await slots()).length, 1);
    const deleted = await plane.request('DELETE', fnPath('ledger'));
    assert.ok(deleted.status === 200 || deleted.status === 202, JSON.stringify(deleted.body));
    await eventually(
      async () => ((await plane.request('GET', fnPath('ledger'))).status === 404 ? true : undefined),
      30_000,
      'the Function gone',
    );
    assert.deepEqual(await slots(), []);
    assert.equal(await mirror('ledger'), undefined);
  });
});
