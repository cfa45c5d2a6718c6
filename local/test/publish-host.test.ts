import assert from 'node:assert/strict';
import { type BusMessage, EVENTS_STREAM, MemoryBus, eventsStreamConfig } from '@nimbus/bus';
import { FunctionEvents, loadGatewayConfig } from '@nimbus/gateway';
import { eventually } from '@nimbus/testkit';
import { PublishHost } from '../src/process/publish-host.js';

/**
 * Local mode's ctx.publish: the supervisor publishes a replica's event into the bus through the
 * gateway's FunctionEvents, as the function it spawned the replica for, and answers by id.
 */
describe('PublishHost', () => {
  const config = loadGatewayConfig({}).events;
  let bus: MemoryBus;
  let host: PublishHost;
  const seen: BusMessage[] = [];
  const alpha = { namespace: 'team', name: 'alpha' };

  beforeEach(async () => {
    seen.length = 0;
    bus = new MemoryBus();
    await bus.ensureStream(
      eventsStreamConfig(['orders.>']) as NonNullable<ReturnType<typeof eventsStreamConfig>>,
    );
    await bus.ensureConsumer({ stream: EVENTS_STREAM, name: 'probe', filterSubject: 'orders.>' });
    bus.consume(EVENTS_STREAM, 'probe', async (m) => {
      seen.push(m);
      await m.ack();
    });
    host = new PublishHost();
    host.attach(new FunctionEvents(config, () => bus));
  });
  afterEach(() => bus.close());

  it("publishes as the replica's function, whatever the message claims, and answers the id", async () => {
    const reply = await host.handle(alpha, {
      type: 'publish',
      id: 4,
      event: {
        subject: 'orders.created',
        data: { sku: 'A-1' },
        type: 'order.created',
        source: 'nimbus://team/beta',
        'ce-source': 'nimbus://team/beta',
      },
    });
    assert.ok(reply?.ok === true, JSON.stringify(reply));
    assert.equal(reply.id, 4);
    const message = await eventually(() => seen[0], 5_000, 'the event');
    assert.equal(message.id, reply.result.id);
    assert.equal(message.headers['ce-source'], 'nimbus://team/alpha');
    assert.equal(message.headers['ce-type'], 'order.created');
    assert.equal(Buffer.from(message.data).toString(), '{"sku":"A-1"}');
  });

  it('refuses a reserved subject with 403 and publishes nothing', async () => {
    for (const subject of ['nimbus.calls.team.beta', '$JS.API.STREAM.DELETE.NIMBUS_CALLS', '_INBOX.x']) {
      const reply = await host.handle(alpha, { type: 'publish', id: 5, event: { subject, data: 1 } });
      assert.ok(reply?.ok === false, JSON.stringify(reply));
      assert.deepEqual(
        [reply.error.name, reply.error.status, reply.error.code],
        ['PublishRefusedError', 403, 'ReservedSubject'],
      );
    }
    assert.equal(seen.length, 0);
  });

  it('answers unavailable before the gateway is attached, and ignores what is not a publish', async () => {
    const early = new PublishHost();
    const reply = await early.handle(alpha, {
      type: 'publish',
      id: 6,
      event: { subject: 'orders.x', data: 1 },
    });
    assert.ok(reply?.ok === false);
    assert.deepEqual([reply.error.name, reply.error.status], ['PublishUnavailableError', 503]);
    assert.equal(await early.handle(alpha, { type: 'state', id: 1 }), undefined);
    assert.equal(await early.handle(alpha, 'publish'), undefined);
  });
});
