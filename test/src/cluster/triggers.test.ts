import assert from 'node:assert/strict';
import { EVENTS_STREAM, type JetStreamBus, triggerConsumerName } from '@nimbus/bus';
import { RESOURCES } from '@nimbus/kube';
import { eventually } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { type RunningController, startController } from '../harness/controller.js';
import { type SecuredNats, TEST_ADMIN, startSecuredNats } from '../harness/nats.js';

interface Stored {
  metadata: { name: string; finalizers?: string[]; deletionTimestamp?: string };
}

describe('the controller keeps JetStream in line with the Functions’ NATS triggers', function () {
  this.timeout(120_000);
  let plane: ControlPlane;
  let nats: SecuredNats;
  /** The test's eyes on JetStream (admin), and an app publishing events (the publisher user). */
  let bus: JetStreamBus;
  let events: JetStreamBus;
  let controller: RunningController;
  let ns: string;

  before(async () => {
    plane = await sharedControlPlane();
    ns = await freshNamespace(plane, 'triggers');
    nats = await startSecuredNats();
    bus = await nats.connect(TEST_ADMIN);
    events = await nats.connect('publisher');
    controller = await startController(plane, ns, nats.env('controller'));
  });

  after(async function () {
    this.timeout(30_000);
    await controller?.stop();
    await bus?.close();
    await events?.close();
    await nats?.stop();
  });

  const functions = '/apis/nimbus.dev/v1alpha1/namespaces';
  const create = async (name: string, triggers: unknown[]) => {
    const reply = await plane.request('POST', `${functions}/${ns}/functions`, {
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name },
      spec: { source: { inline: 'export default () => 1' }, triggers },
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
  };
  const consumers = async () => (await bus.listConsumers(EVENTS_STREAM)).map((c) => c.config);
  /** Whether the events stream takes a subject: a publish no stream takes is refused. */
  const takes = async (subject: string) =>
    events.publish(subject, new Uint8Array()).then(
      () => true,
      (err: Error & { reason?: string }) => {
        if (err.reason === 'no-stream') return false;
        throw err;
      },
    );

  it('a trigger becomes a durable on its subject with the Function’s maxDeliver and backoff; the Function gets the cleanup finalizer', async () => {
    await create('orders', [
      { nats: { subject: 'orders.created', maxDeliver: 3, backoff: ['1s', '2s', '5s'] } },
    ]);
    const name = triggerConsumerName(ns, 'orders', 'orders.created');
    const consumer = await eventually(
      async () => (await consumers()).find((c) => c.name === name),
      30_000,
      'the trigger consumer',
    );
    assert.equal(consumer.filterSubject, 'orders.created');
    assert.equal(consumer.maxDeliver, 3);
    assert.deepEqual(consumer.backoffMs, [1000, 2000], 'steps past the last delivery are cut');
    assert.equal(await takes('orders.created'), true);
    assert.equal(await takes('orders.paid'), false);
    const fn = (await plane.request<Stored>('GET', `${functions}/${ns}/functions/orders`)).body;
    assert.deepEqual(fn.metadata.finalizers, ['nimbus.dev/cleanup']);
  });

  it('a second function on the same subject gets a durable of its own: each sees every message', async () => {
    await create('audit', [{ nats: { subject: 'orders.created' } }]);
    const audit = triggerConsumerName(ns, 'audit', 'orders.created');
    await eventually(
      async () => (await consumers()).find((c) => c.name === audit),
      30_000,
      'the audit consumer',
    );
    const names = [audit, triggerConsumerName(ns, 'orders', 'orders.created')];
    const before = await Promise.all(
      names.map(async (n) => (await bus.consumerInfo(EVENTS_STREAM, n))?.pending ?? 0),
    );
    await events.publish('orders.created', new TextEncoder().encode('{"id":1}'));
    for (const [i, name] of names.entries()) {
      await eventually(
        async () =>
          (await bus.consumerInfo(EVENTS_STREAM, name))?.pending === (before[i] ?? 0) + 1 ? true : undefined,
        10_000,
        `${name} to hold the message`,
      );
    }
  });

  it('a changed subject swaps the durable and the stream’s subjects; a reserved subject is refused with an Event', async () => {
    await controller.client.mergePatch(RESOURCES.functions, ns, 'orders', {
      spec: {
        triggers: [{ nats: { subject: 'orders.paid' } }, { nats: { subject: 'nimbus.calls.x.y' } }],
      },
    });
    const paid = triggerConsumerName(ns, 'orders', 'orders.paid');
    await eventually(
      async () => {
        const names = (await consumers()).map((c) => c.name);
        return names.includes(paid) && !names.includes(triggerConsumerName(ns, 'orders', 'orders.created'))
          ? true
          : undefined;
      },
      30_000,
      'the old durable gone and the new one there',
    );
    assert.equal(await takes('orders.paid'), true);
    assert.equal(await takes('orders.created'), true, 'audit still listens there');
    const event = await eventually(
      async () => {
        const list = await plane.request<{ items: { reason: string; message: string }[] }>(
          'GET',
          `/api/v1/namespaces/${ns}/events`,
        );
        return list.body.items.find((e) => e.reason === 'TriggerRefused');
      },
      30_000,
      'a TriggerRefused Event',
    );
    assert.match(event.message, /nimbus\.calls\.x\.y is reserved/);
    assert.equal(
      (await consumers()).some((c) => c.filterSubject === 'nimbus.calls.x.y'),
      false,
    );
  });

  it('deleting a Function removes its durables before the finalizer lets it go; the stream keeps only subjects still wanted', async () => {
    const deleted = await plane.request('DELETE', `${functions}/${ns}/functions/orders`);
    assert.equal(deleted.status, 200);
    await eventually(
      async () =>
        (await plane.request('GET', `${functions}/${ns}/functions/orders`)).status === 404 ? true : undefined,
      30_000,
      'the Function gone',
    );
    const names = (await consumers()).map((c) => c.name);
    assert.deepEqual(names, [triggerConsumerName(ns, 'audit', 'orders.created')]);
    assert.equal(await takes('orders.created'), true);
    assert.equal(await takes('orders.paid'), false);
  });

  it('NATS away when a trigger is added: the reconcile is retried and converges once NATS is back', async () => {
    await nats.server.pause();
    try {
      await create('late', [{ nats: { subject: 'late.events' } }]);
      await eventually(
        async () => {
          const list = await plane.request<{ items: { reason: string; involvedObject: { name: string } }[] }>(
            'GET',
            `/api/v1/namespaces/${ns}/events`,
          );
          return list.body.items.some(
            (e) => e.reason === 'TriggerSyncFailed' && e.involvedObject.name === 'late',
          )
            ? true
            : undefined;
        },
        30_000,
        'a TriggerSyncFailed Event while NATS is away',
      );
    } finally {
      await nats.server.resume();
    }
    await eventually(
      async () =>
        (await consumers()).some((c) => c.name === triggerConsumerName(ns, 'late', 'late.events'))
          ? true
          : undefined,
      60_000,
      'the late trigger’s durable once NATS is back',
    );
  });

  it('a cron pattern the gateways could not run is reported with an Event naming the field', async () => {
    await create('nightly', [
      { schedule: { cron: '61 * * * *' } },
      { schedule: { cron: '0 3 * * *', timezone: 'Mars/Olympus' } },
    ]);
    const events = await eventually(
      async () => {
        const list = await plane.request<{
          items: { reason: string; message: string; involvedObject: { name: string } }[];
        }>('GET', `/api/v1/namespaces/${ns}/events`);
        const found = list.body.items.filter(
          (e) => e.reason === 'ScheduleRefused' && e.involvedObject.name === 'nightly',
        );
        return found.length === 2 ? found : undefined;
      },
      30_000,
      'two ScheduleRefused Events',
    );
    assert.deepEqual(events.map((e) => e.message.split(':')[0]).sort(), [
      'spec.triggers[0].schedule.cron',
      'spec.triggers[1].schedule.timezone',
    ]);
  });

  it('needed nothing its least-privilege NATS user is denied', () => {
    assert.deepEqual(nats.violations(), []);
  });
});
