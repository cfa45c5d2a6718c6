import { strict as assert } from 'node:assert';
import { ManualClock, type RabbitMqServer, eventually, startRabbitMqServer } from '@nimbus/testkit';
import amqp from 'amqplib';
import type { SourceReader } from '../src/index.js';
import { RabbitMqReader, rabbitMqSource } from '../src/rabbitmq/index.js';
import {
  RecordingSink,
  publish,
  rabbitTrigger,
  readerContext,
  secretsOf,
  withChannel,
} from './support/rabbitmq.js';

const PASSWORD = 'Pa55-w0rd-never-shown';
const FAST_RECONNECT = { reconnect: { baseMs: 100, maxMs: 1_000 } } as const;

describe('RabbitMQ reader (a real broker)', function () {
  this.timeout(120_000);
  let server: RabbitMqServer;
  const readers: SourceReader[] = [];
  let queueSeq = 0;

  before(async () => {
    server = await startRabbitMqServer({ password: PASSWORD, vhost: 'shop' });
  });
  after(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(readers.splice(0).map((r) => r.stop()));
  });

  async function freshQueue(): Promise<string> {
    const queue = `q${++queueSeq}`;
    await withChannel(server.url, (channel) => channel.assertQueue(queue, { durable: true }));
    return queue;
  }

  function startReader(context: ReturnType<typeof readerContext>, options = {}): RabbitMqReader {
    const reader = new RabbitMqReader(context, { ...FAST_RECONNECT, ...options });
    readers.push(reader);
    reader.start();
    return reader;
  }

  it('is a non-exclusive kind whose reader hands each message on as an event, in order, with its attributes', async () => {
    assert.equal(rabbitMqSource.exclusive, false);
    const queue = await freshQueue();
    await publish(server.url, '', queue, [
      {
        body: '{"n":1}',
        options: {
          messageId: 'order-1',
          timestamp: 1_700_000_000,
          correlationId: 'corr-1',
          contentType: 'text/x.order',
        },
      },
      { body: '{"n":2}' },
      { body: Buffer.from([0xff, 0x00, 0x01]) },
    ]);
    const sink = new RecordingSink(true);
    const context = readerContext(rabbitTrigger({ queue }), server.url, sink);
    const reader = rabbitMqSource.reader?.(context);
    assert.ok(reader);
    readers.push(reader);
    reader.start();
    await eventually(() => (sink.deliveries.length === 3 ? true : undefined), 20_000, 'three deliveries');
    const [first, second, third] = sink.deliveries.map((d) => d.event);
    assert.deepEqual(
      sink.deliveries.map((d) => d.attempt),
      [1, 1, 1],
    );
    assert.equal(first?.id, 'order-1');
    assert.equal(first?.type, 'dev.nimbus.rabbitmq.message');
    assert.equal(first?.source, `amqp://127.0.0.1:${server.port}/shop#${queue}`);
    assert.equal(first?.subject, queue, 'the routing key (the default exchange routes by queue name)');
    assert.equal(first?.time, 1_700_000_000_000);
    assert.equal(first?.contentType, 'text/x.order');
    assert.deepEqual(first?.extensions, { routingkey: queue, correlationid: 'corr-1' });
    assert.equal(Buffer.from(first?.data ?? []).toString(), '{"n":1}');
    assert.match(second?.id ?? '', /^amqp-[0-9a-f]{64}$/, 'no message-id: a digest');
    assert.equal(second?.contentType, 'application/json', 'parses as JSON');
    assert.equal(third?.contentType, 'application/octet-stream');
    assert.notEqual(second?.id, third?.id);
    await eventually(
      async () => ((await server.queueCounts(queue))?.unacked === 0 ? true : undefined),
      20_000,
    );
    assert.equal(sink.last?.connected, true);
    await eventually(() => (sink.last?.backlog === 0 ? true : undefined), 10_000, 'the backlog');
  });

  it('runs at most prefetch deliveries at once, and acks each only once it is delivered', async () => {
    const queue = await freshQueue();
    const sink = new RecordingSink();
    startReader(readerContext(rabbitTrigger({ queue, prefetch: 3 }), server.url, sink), {
      backlogIntervalMs: 100,
    });
    await publish(
      server.url,
      '',
      queue,
      Array.from({ length: 10 }, (_, i) => ({ body: `m${i}`, options: { messageId: `m${i}` } })),
    );
    await eventually(() => (sink.deliveries.length === 3 ? true : undefined), 20_000, 'three in flight');
    let counts = await server.queueCounts(queue);
    assert.deepEqual(counts, { ready: 7, unacked: 3, consumers: 1 }, 'three held by the reader, unacked');
    assert.equal(sink.inFlight, 3);
    await eventually(
      () => (sink.last?.backlog === 7 ? true : undefined),
      10_000,
      'the backlog: the ready seven',
    );

    // One delivery settles: it is acked and one more comes; the others stay unacked.
    sink.deliveries[0]?.resolve();
    await eventually(() => (sink.deliveries.length === 4 ? true : undefined), 10_000, 'a fourth');
    counts = await eventually(async () => {
      const c = await server.queueCounts(queue);
      return c?.ready === 6 && c.unacked === 3 ? c : undefined;
    }, 20_000);
    assert.equal(sink.maxInFlight, 3);

    // Settle everything as it comes.
    for (let settled = 1; settled < 10; settled++) {
      await eventually(() => sink.deliveries[settled], 10_000, `delivery ${settled}`);
      sink.deliveries[settled]?.resolve();
    }
    await eventually(
      async () => ((await server.queueCounts(queue))?.unacked === 0 ? true : undefined),
      20_000,
    );
    assert.deepEqual(
      sink.ids(),
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    assert.equal(sink.maxInFlight, 3, 'never more than prefetch at once');
  });

  it('nacks a delivery that could not be settled: the message comes again, redelivered', async () => {
    const queue = await freshQueue();
    const sink = new RecordingSink();
    startReader(readerContext(rabbitTrigger({ queue, prefetch: 1 }), server.url, sink));
    await publish(server.url, '', queue, [{ body: 'x', options: { messageId: 'again' } }]);
    await eventually(() => sink.deliveries[0], 20_000);
    sink.deliveries[0]?.reject(new Error('the dead letters are unreachable'));
    await eventually(() => sink.deliveries[1], 20_000, 'the redelivery');
    assert.equal(sink.deliveries[1]?.event.id, 'again');
    assert.equal(sink.deliveries[1]?.attempt, 2);
    sink.deliveries[1]?.resolve();
    await eventually(
      async () => ((await server.queueCounts(queue))?.unacked === 0 ? true : undefined),
      20_000,
    );
    assert.deepEqual(await server.queueCounts(queue), { ready: 0, unacked: 0, consumers: 1 });
  });

  it('stopped mid-delivery, hands the message back: a new reader gets it again as attempt 2', async () => {
    const queue = await freshQueue();
    await publish(server.url, '', queue, [{ body: 'slow' }]);
    const clock = new ManualClock(Date.now());
    const sink = new RecordingSink();
    const reader = new RabbitMqReader(readerContext(rabbitTrigger({ queue }), server.url, sink, clock), {
      stopGraceMs: 30_000,
    });
    reader.start();
    await eventually(() => sink.deliveries[0], 20_000);
    const firstId = sink.deliveries[0]?.event.id;

    // Its delivery never settles: stop cancels the consumer, waits out the grace on the clock,
    // then closes with the message unacked.
    let stopped = false;
    const stopping = reader.stop().then(() => {
      stopped = true;
    });
    await eventually(
      async () => ((await server.queueCounts(queue))?.consumers === 0 ? true : undefined),
      20_000,
    );
    assert.equal(stopped, false, 'stop waits for the delivery in flight');
    assert.deepEqual(await server.queueCounts(queue), { ready: 0, unacked: 1, consumers: 0 });
    await eventually(
      () => {
        clock.advance(30_000);
        return stopped ? true : undefined;
      },
      20_000,
      'stop to give up waiting',
    );
    await stopping;
    assert.equal(sink.last?.connected, false);

    const second = new RecordingSink(true);
    startReader(readerContext(rabbitTrigger({ queue }), server.url, second));
    await eventually(() => second.deliveries[0], 20_000, 'the message again');
    assert.equal(second.deliveries[0]?.event.id, firstId, 'the same id: the digest holds across redelivery');
    assert.equal(second.deliveries[0]?.attempt, 2);
  });

  it('delivers every message at least once when the broker restarts mid-stream', async () => {
    const queue = await freshQueue();
    const sink = new RecordingSink(true);
    startReader(readerContext(rabbitTrigger({ queue, prefetch: 20 }), server.url, sink));
    const total = 600;
    let published = 0;
    let restarted = false;
    const publishing = (async () => {
      // A publisher that survives the restart: a batch not confirmed is published again.
      while (published < total) {
        try {
          const batch = Array.from({ length: Math.min(50, total - published) }, (_, i) => ({
            body: `n${published + i}`,
            options: { messageId: `n${published + i}` },
          }));
          await publish(server.url, '', queue, batch);
          published += batch.length;
        } catch {
          await eventually(() => (server.pid !== undefined ? true : undefined), 120_000, 'the broker back');
        }
      }
    })();
    await eventually(() => (sink.deliveries.length >= 100 ? true : undefined), 30_000, 'a hundred delivered');
    await server.restart();
    restarted = true;
    await publishing;
    const seen = await eventually(
      () => {
        const ids = new Set(sink.ids());
        return ids.size === total ? ids : undefined;
      },
      60_000,
      'every message',
    );
    for (let i = 0; i < total; i++) assert.ok(seen.has(`n${i}`), `n${i} delivered`);
    assert.ok(restarted);
    assert.ok(
      sink.health.some((h) => !h.connected && h.lastError !== undefined),
      'the lost connection shows in health',
    );
    assert.equal(sink.last?.connected, true, 'connected again');
    await eventually(async () => ((await server.queueCounts(queue))?.ready === 0 ? true : undefined), 20_000);
  });

  it('says in its health when the queue does not exist, and reads it once it does', async () => {
    const queue = `missing${++queueSeq}`;
    const sink = new RecordingSink(true);
    startReader(readerContext(rabbitTrigger({ queue }), server.url, sink));
    await eventually(() => sink.last?.lastError, 20_000, 'an error in health');
    assert.equal(sink.last?.connected, false);
    assert.match(sink.last?.lastError ?? '', new RegExp(`queue "${queue}" does not exist in vhost "shop"`));
    await withChannel(server.url, (channel) => channel.assertQueue(queue, { durable: true }));
    await publish(server.url, '', queue, [{ body: 'late' }]);
    await eventually(() => sink.deliveries[0], 20_000, 'the message once the queue is there');
    assert.equal(sink.last?.connected, true);
    assert.equal(sink.last?.lastError, undefined, 'the error clears on connecting');
  });

  it('refuses wrong credentials in words, retries on the clock, and never shows a password', async () => {
    const queue = await freshQueue();
    const wrongPassword = 'Wr0ng-Secret-Value';
    const wrong = `amqp://${server.user}:${wrongPassword}@127.0.0.1:${server.port}/shop`;
    const clock = new ManualClock(Date.now());
    const sink = new RecordingSink(true);
    const context = readerContext(rabbitTrigger({ queue }), wrong, sink, clock);
    const reader = startReader(context);
    await eventually(() => sink.last?.lastError, 20_000, 'the refusal in health');
    assert.match(
      sink.last?.lastError ?? '',
      /spec\.triggers\[orders\]\.rabbitmq\.connection: .*refused the login/,
    );
    const attempts = () => context.lines.filter((l) => l.includes('reconnecting')).length;
    assert.equal(attempts(), 1);
    // The next attempt waits for the backoff on the injected clock, and comes once it has passed.
    await eventually(() => (clock.pending > 0 ? true : undefined), 5_000, 'the backoff timer');
    clock.advance(1_000);
    await eventually(() => (attempts() === 2 ? true : undefined), 20_000, 'a second attempt');
    await reader.stop();

    // A working reader, to see its events and logs too.
    const good = new RecordingSink(true);
    const goodContext = readerContext(rabbitTrigger({ queue }), server.url, good);
    startReader(goodContext);
    await publish(server.url, '', queue, [{ body: PASSWORD, options: { messageId: 'p' } }]);
    await eventually(() => good.deliveries[0], 20_000);
    const shown = JSON.stringify([
      sink.health,
      good.health,
      context.lines,
      goodContext.lines,
      good.deliveries.map((d) => ({ ...d.event, data: undefined })),
    ]);
    for (const secret of [wrongPassword, PASSWORD]) assert.ok(!shown.includes(secret), 'no password shown');
  });

  it('says which field is wrong when the connection Secret is missing or holds no AMQP URL', async () => {
    const clock = new ManualClock(Date.now());
    for (const [url, words] of [
      [undefined, /secret broker/],
      [
        `https://u:${PASSWORD}@127.0.0.1/`,
        /spec\.triggers\[orders\]\.rabbitmq\.connection: has the scheme https:/,
      ],
    ] as const) {
      const sink = new RecordingSink(true);
      const base = readerContext(rabbitTrigger({ queue: 'any' }), url ?? '', sink, clock);
      const context = url === undefined ? { ...base, secrets: secretsOf({}) } : base;
      const reader = startReader(context);
      await eventually(() => sink.last?.lastError, 5_000, 'the error in health');
      assert.match(sink.last?.lastError ?? '', words);
      assert.ok(!JSON.stringify([sink.health, context.lines]).includes(PASSWORD));
      await reader.stop();
    }
  });

  it("counts a quorum queue's deliveries from x-delivery-count", async () => {
    const queue = `quorum${++queueSeq}`;
    await withChannel(server.url, (channel) =>
      channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } }),
    );
    await publish(server.url, '', queue, [{ body: 'twice refused', options: { messageId: 'qq' } }]);
    const sink = new RecordingSink();
    startReader(readerContext(rabbitTrigger({ queue, prefetch: 1 }), server.url, sink));
    for (const n of [0, 1]) {
      await eventually(() => sink.deliveries[n], 20_000, `delivery ${n + 1}`);
      sink.deliveries[n]?.reject(new Error('not settled'));
    }
    await eventually(() => sink.deliveries[2], 20_000, 'the third delivery');
    assert.deepEqual(
      sink.deliveries.map((d) => [d.event.id, d.attempt]),
      [
        ['qq', 1],
        ['qq', 2],
        ['qq', 3],
      ],
    );
    sink.deliveries[2]?.resolve();
  });

  it('counts a message the broker delivered before (to anyone) as attempt 2', async () => {
    const queue = await freshQueue();
    await publish(server.url, '', queue, [{ body: 'once', options: { messageId: 'r' } }]);
    await withChannel(server.url, async (channel) => {
      const got = await eventually(async () => (await channel.get(queue)) || undefined, 10_000);
      channel.nack(got as amqp.Message, false, true);
      await channel.close();
    });
    const sink = new RecordingSink(true);
    startReader(readerContext(rabbitTrigger({ queue }), server.url, sink));
    await eventually(() => sink.deliveries[0], 20_000);
    assert.equal(sink.deliveries[0]?.attempt, 2);
  });
});
