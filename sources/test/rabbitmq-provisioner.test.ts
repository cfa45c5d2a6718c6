import { strict as assert } from 'node:assert';
import { type RabbitMqServer, startRabbitMqServer } from '@nimbus/testkit';
import { SourceConfigError } from '../src/index.js';
import { RabbitMqProvisioner, TRIGGER_MARKER, recordQueueName } from '../src/rabbitmq/index.js';
import { publish, rabbitTrigger, secretsOf, withChannel } from './support/rabbitmq.js';

const PASSWORD = 'Pr0vision-Secret';

describe('RabbitMQ provisioner (a real broker)', function () {
  this.timeout(120_000);
  let server: RabbitMqServer;
  let secrets: ReturnType<typeof secretsOf>;
  const provisioner = new RabbitMqProvisioner();

  before(async () => {
    server = await startRabbitMqServer({ password: PASSWORD });
    secrets = secretsOf({ 'broker/url': server.url });
    await withChannel(server.url, async (channel) => {
      await channel.assertExchange('orders', 'topic', { durable: true });
      await channel.assertExchange('audit', 'fanout', { durable: true });
    });
  });
  after(async () => {
    await server?.stop();
  });

  let probes = 0;

  /**
   * Publishes a probe through `exchange` with `key` (confirmed, so routed by then) and takes every
   * message off `queue`, which holds only probes: whether this one reached it.
   */
  async function routes(queue: string, exchange: string, key: string): Promise<boolean> {
    const id = `probe-${++probes}`;
    await publish(server.url, exchange, key, [{ body: 'probe', options: { messageId: id } }]);
    return withChannel(server.url, async (channel) => {
      let found = false;
      for (
        let got = await channel.get(queue, { noAck: true });
        got !== false;
        got = await channel.get(queue, { noAck: true })
      )
        found ||= got.properties.messageId === id;
      return found;
    });
  }

  it('declares a durable queue and its marked bindings, and converges them: only its own are removed', async () => {
    const source = rabbitTrigger({
      queue: 'fulfil',
      declare: true,
      bindings: [{ exchange: 'orders', routingKey: 'order.*' }, { exchange: 'audit' }],
    });
    await provisioner.ensure(source, secrets);
    await provisioner.ensure(source, secrets); // idempotent
    const made = await server.bindings('fulfil');
    assert.deepEqual(made.map((b) => [b.exchange, b.routingKey]).sort(), [
      ['audit', ''],
      ['orders', 'order.*'],
    ]);
    for (const b of made) assert.match(b.arguments, new RegExp(`${TRIGGER_MARKER}.*shop/fulfil/orders`));
    assert.ok(await routes('fulfil', 'orders', 'order.created'));

    // A user binds the same exchange and key themselves: a different binding (no marker).
    await withChannel(server.url, (channel) => channel.bindQueue('fulfil', 'orders', 'order.*'));
    const changed = rabbitTrigger({
      queue: 'fulfil',
      declare: true,
      bindings: [{ exchange: 'orders', routingKey: 'order.paid' }],
    });
    await provisioner.ensure(changed, secrets);
    const after = (await server.bindings('fulfil')).map((b) => [
      b.exchange,
      b.routingKey,
      b.arguments.includes(TRIGGER_MARKER),
    ]);
    assert.deepEqual(after.sort(), [
      ['orders', 'order.*', false],
      ['orders', 'order.paid', true],
    ]);
    assert.equal(await routes('fulfil', 'audit', ''), false, 'the audit binding Nimbus made is gone');
    assert.ok(await routes('fulfil', 'orders', 'order.paid'));

    await provisioner.remove(changed, secrets);
    assert.equal(await server.queueCounts('fulfil'), undefined, 'the empty queue is deleted');
    assert.equal(await server.queueCounts(recordQueueName(changed)), undefined, 'and the record with it');
    await provisioner.remove(changed, secrets); // idempotent
  });

  it('keeps a declared queue that still holds messages on removal, and says why', async () => {
    const source = rabbitTrigger({ queue: 'keepme', declare: true, bindings: [{ exchange: 'audit' }] });
    await provisioner.ensure(source, secrets);
    await publish(server.url, '', 'keepme', [{ body: 'precious' }]);
    const outcome = await provisioner.removeWithOutcome(source, secrets);
    assert.equal(outcome.keptQueue?.queue, 'keepme');
    assert.match(outcome.keptQueue?.reason ?? '', /holds messages/);
    assert.deepEqual(await server.queueCounts('keepme'), { ready: 1, unacked: 0, consumers: 0 });
    assert.deepEqual(await server.bindings('keepme'), [], 'its bindings are gone all the same');
  });

  it('takes an existing queue of another type as it is, and never deletes it', async () => {
    await withChannel(server.url, (channel) =>
      channel.assertQueue('quorum-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } }),
    );
    const source = rabbitTrigger({ queue: 'quorum-q', declare: true, bindings: [{ exchange: 'audit' }] });
    await provisioner.ensure(source, secrets);
    assert.ok(await routes('quorum-q', 'audit', ''));
    const outcome = await provisioner.removeWithOutcome(source, secrets);
    assert.match(outcome.keptQueue?.reason ?? '', /quorum/);
    assert.ok(await server.queueCounts('quorum-q'), 'still there');
  });

  it('without declare, only checks that the queue exists: a missing one is a config error naming the field', async () => {
    await withChannel(server.url, (channel) => channel.assertQueue('existing', { durable: true }));
    await provisioner.ensure(rabbitTrigger({ queue: 'existing' }), secrets);
    await assert.rejects(provisioner.ensure(rabbitTrigger({ queue: 'nowhere' }), secrets), (err: unknown) => {
      assert.ok(err instanceof SourceConfigError);
      assert.equal(err.field, 'spec.triggers[orders].rabbitmq.queue');
      assert.match(err.message, /"nowhere", which does not exist in vhost "\/"/);
      return true;
    });
    assert.equal(await server.queueCounts('nowhere'), undefined, 'nothing declared');
    await provisioner.remove(rabbitTrigger({ queue: 'existing' }), secrets);
    assert.ok(await server.queueCounts('existing'), 'a queue Nimbus did not declare is never deleted');
  });

  it('names the binding whose exchange does not exist', async () => {
    const source = rabbitTrigger({
      queue: 'badbind',
      declare: true,
      bindings: [{ exchange: 'audit' }, { exchange: 'no-such-exchange', routingKey: 'x' }],
    });
    await assert.rejects(provisioner.ensure(source, secrets), (err: unknown) => {
      assert.ok(err instanceof SourceConfigError);
      assert.equal(err.field, 'spec.triggers[orders].rabbitmq.bindings[1].exchange');
      return true;
    });
    // What it made on the way is recorded, so removing the trigger takes it away.
    await provisioner.remove(source, secrets);
    assert.equal(await server.queueCounts('badbind'), undefined);
  });

  it('a forged record cannot make it delete a queue or unbind what it did not bind', async () => {
    // Someone who may publish to the vhost writes a record for the trigger naming a user's queue and binding.
    await withChannel(server.url, async (channel) => {
      await channel.assertQueue('victim', { durable: true });
      await channel.bindQueue('victim', 'orders', 'vip');
    });
    const source = rabbitTrigger({ queue: 'mine', declare: true, bindings: [{ exchange: 'audit' }] });
    await provisioner.ensure(source, secrets);
    await publish(server.url, '', recordQueueName(source), [
      {
        body: JSON.stringify({
          v: 1,
          queues: ['victim'],
          bindings: [{ queue: 'victim', exchange: 'orders', routingKey: 'vip' }],
        }),
      },
    ]);
    await provisioner.ensure(rabbitTrigger({ queue: 'mine', declare: true }), secrets);
    await provisioner.remove(source, secrets);
    assert.ok(await server.queueCounts('victim'), 'the victim queue is there');
    assert.deepEqual(
      (await server.bindings('victim')).map((b) => [b.exchange, b.routingKey]),
      [['orders', 'vip']],
    );
  });

  it('refuses wrong credentials as a config error that shows no password', async () => {
    const wrong = secretsOf({ 'broker/url': server.url.replace(PASSWORD, 'Wr0ng-Pass') });
    await assert.rejects(
      provisioner.ensure(rabbitTrigger({ queue: 'x', declare: true }), wrong),
      (err: unknown) => {
        assert.ok(err instanceof SourceConfigError);
        assert.equal(err.field, 'spec.triggers[orders].rabbitmq.connection');
        assert.match(err.message, /refused the login/);
        assert.ok(!`${err.message}${err.stack}`.includes('Wr0ng-Pass'));
        return true;
      },
    );
    const notAmqp = secretsOf({ 'broker/url': `http://u:${PASSWORD}@h/` });
    await assert.rejects(provisioner.ensure(rabbitTrigger({ queue: 'x' }), notAmqp), (err: unknown) => {
      assert.ok(err instanceof SourceConfigError);
      assert.match(err.message, /scheme http:/);
      assert.ok(!err.message.includes(PASSWORD));
      return true;
    });
  });
});
