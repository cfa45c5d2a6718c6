import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { eventually } from '@nimbus/testkit';
import {
  BusConfigError,
  BusUnavailableError,
  type ConsumerConfig,
  type MessageBus,
  type Subscription,
  publishDeadLetter,
  readDeadLetter,
  resolveConsumerConfig,
} from '../../src/index.js';
import { Recorder, bytes, gate, observeFor } from './recorder.js';

export interface ServerControl {
  /** Stops the server, keeping its store. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Stops and starts it on the same port and store. */
  restart(): Promise<void>;
  readonly pid: number | undefined;
}

export interface BusFixture {
  readonly bus: MessageBus;
  /** Another bus on the same backend, as a second gateway replica has (the memory bus: the same one). */
  peer(): Promise<MessageBus>;
  /** Present when the backend is a server the test may take away. */
  readonly server?: ServerControl;
  close(): Promise<void>;
}

/** A handler that holds every message until released, counting how many it holds at once. */
function probe() {
  let running = 0;
  let most = 0;
  const held = gate();
  return {
    act: async (m: { ack(): Promise<void> }) => {
      running++;
      most = Math.max(most, running);
      await held.promise;
      running--;
      await m.ack();
    },
    release: held.open,
    running: () => running,
    most: () => most,
  };
}

/**
 * Node's timers and Date.now() round differently, so a timer of n ms can be seen to fire n - 1 ms
 * later; anything earlier than this is a real early redelivery.
 */
const TIMER_SLACK_MS = 2;

/** How long publish may take to fail while the server is away: the 2 s bound plus scheduling slack. */
const UNAVAILABLE_BOUND_MS = 2_500;

/**
 * The behaviour every MessageBus adapter must show, run against each with `makeBus` giving a fresh
 * bus per test. Each test works in streams of its own, so tests never see each other's messages.
 */
export function describeMessageBusContract(
  name: string,
  makeBus: () => Promise<BusFixture>,
  capabilities: { serverControl: boolean },
): void {
  describe(`MessageBus contract: ${name}`, function () {
    this.timeout(30_000);
    let fixture: BusFixture;
    let bus: MessageBus;
    let stream: string;
    let subject: (leaf: string) => string;
    const subscriptions: Subscription[] = [];

    beforeEach(async () => {
      fixture = await makeBus();
      bus = fixture.bus;
      const id = randomUUID().slice(0, 8);
      stream = `T_${id}`;
      subject = (leaf) => `t.${id}.${leaf}`;
      await bus.ensureStream({ name: stream, subjects: [`t.${id}.>`], duplicateWindowMs: 60_000 });
    });

    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((s) => s.stop()));
      await fixture.close();
    });

    const consumer = (name: string, extra: Partial<ConsumerConfig> = {}): Promise<unknown> =>
      bus.ensureConsumer({ stream, name, ...extra });

    const consume = (
      recorder: Recorder,
      consumerName: string,
      by = 'a',
      act?: Parameters<Recorder['handler']>[1],
      options: { concurrency?: number; on?: MessageBus } = {},
    ): Subscription => {
      const subscription = (options.on ?? bus).consume(stream, consumerName, recorder.handler(by, act), {
        concurrency: options.concurrency ?? 1,
      });
      subscriptions.push(subscription);
      return subscription;
    };

    const idle = (consumerName: string) =>
      eventually(
        async () => {
          const info = await bus.consumerInfo(stream, consumerName);
          return info !== undefined && info.pending === 0 && info.ackPending === 0 ? info : undefined;
        },
        10_000,
        `consumer ${consumerName} to have nothing pending`,
      );

    it('acknowledges a publish once the message is stored and delivers it with its details', async () => {
      await consumer('c');
      const before = Date.now();
      const ack = await bus.publish(subject('one'), bytes('hello'), { headers: { 'X-Trace': 'abc' } });
      const after = Date.now();
      assert.deepEqual(ack, { stream, seq: 1, duplicate: false });
      assert.equal((await bus.consumerInfo(stream, 'c'))?.pending, 1, 'stored before the ack returned');
      const second = await bus.publish(subject('two'), bytes('again'));
      assert.equal(second.seq, 2);

      const recorder = new Recorder();
      consume(recorder, 'c');
      const [first] = await recorder.waitFor(2);
      const m = first?.message;
      assert.ok(m);
      assert.equal(m.subject, subject('one'));
      assert.equal(m.stream, stream);
      assert.equal(m.streamSeq, 1);
      assert.equal(m.id, `${stream}:1`);
      assert.equal(new TextDecoder().decode(m.data), 'hello');
      assert.equal(m.headers['X-Trace'], 'abc');
      assert.equal(m.deliveryCount, 1);
      assert.equal(m.lastAttempt, false);
      assert.ok(m.timestamp >= before - 1_000 && m.timestamp <= after + 1_000, `timestamp ${m.timestamp}`);
      await idle('c');
    });

    it('stores a message id once within the duplicate window and delivers it once', async () => {
      await consumer('c');
      const first = await bus.publish(subject('x'), bytes('call'), { msgId: 'call-1' });
      const again = await bus.publish(subject('x'), bytes('call'), { msgId: 'call-1' });
      assert.equal(first.duplicate, false);
      assert.deepEqual(again, { stream, seq: first.seq, duplicate: true });

      const recorder = new Recorder();
      consume(recorder, 'c');
      await bus.publish(subject('x'), bytes('marker'));
      await eventually(() => (recorder.countOf('marker') === 1 ? true : undefined), 10_000, 'the marker');
      assert.equal(recorder.countOf('call'), 1);
      const call = recorder.seen.find((s) => s.message.id === 'call-1');
      assert.ok(call, 'the id is the publisher’s msgId');
      assert.equal(call.message.headers['Nats-Msg-Id'], 'call-1');
    });

    it('refuses what no stream takes and what is malformed, with typed errors', async () => {
      await assert.rejects(bus.publish('nobody.listens.here', bytes('x')), (err: unknown) => {
        assert.ok(err instanceof BusUnavailableError);
        assert.equal(err.reason, 'no-stream');
        return true;
      });
      await assert.rejects(bus.publish('bad.*.subject', bytes('x')), BusConfigError);
      await assert.rejects(
        bus.publish(subject('x'), bytes('x'), { headers: { 'Nats-Expected-Stream': 'X' } }),
        BusConfigError,
      );
      await assert.rejects(
        bus.publish(subject('x'), bytes('x'), { headers: { 'X-A': 'two\r\nlines' } }),
        BusConfigError,
      );
      await assert.rejects(bus.ensureConsumer({ stream, name: 'has.dot' }), BusConfigError);
      await assert.rejects(
        bus.ensureConsumer({ stream, name: 'c', backoffMs: [100, 200], maxDeliver: 2 }),
        BusConfigError,
      );
      await assert.rejects(bus.ensureConsumer({ stream: `${stream}_MISSING`, name: 'c' }), BusConfigError);
    });

    it('shares one durable between two subscribers: each message is handled exactly once', async () => {
      await consumer('shared');
      const peer = await fixture.peer();
      const recorder = new Recorder();
      // Each side holds its first message until the other has one too, so both must take part.
      const both = gate();
      const act = async (m: { ack(): Promise<void> }) => {
        if (new Set(recorder.seen.map((s) => s.by)).size === 2) both.open();
        await both.promise;
        await m.ack();
      };
      consume(recorder, 'shared', 'a', act, { concurrency: 1 });
      consume(recorder, 'shared', 'b', act, { concurrency: 1, on: peer });
      const total = 40;
      for (let i = 0; i < total; i++) await bus.publish(subject('work'), bytes(`m${i}`));
      await recorder.waitFor(total);
      await idle('shared');
      const bodies = recorder.bodies();
      assert.equal(bodies.length, total, 'no message twice');
      assert.equal(new Set(bodies).size, total, 'every message once');
      assert.deepEqual(new Set(recorder.seen.map((s) => s.by)), new Set(['a', 'b']));
    });

    it('fans out: two durables on one subject each see every message', async () => {
      await consumer('f1', { filterSubject: subject('orders.*') });
      await consumer('f2', { filterSubject: subject('orders.*') });
      const one = new Recorder();
      const two = new Recorder();
      consume(one, 'f1');
      consume(two, 'f2');
      for (let i = 0; i < 10; i++) await bus.publish(subject(`orders.${i}`), bytes(`o${i}`));
      await bus.publish(subject('other'), bytes('not for them'));
      await one.waitFor(10);
      await two.waitFor(10);
      await idle('f1');
      await idle('f2');
      const expected = Array.from({ length: 10 }, (_, i) => `o${i}`);
      assert.deepEqual(one.bodies().sort(), expected.sort());
      assert.deepEqual(two.bodies().sort(), expected.sort());
    });

    it('redelivers a nak with a delay no sooner than the delay, as delivery 2', async () => {
      await consumer('c');
      const delayMs = 500;
      let nakAt = 0;
      const recorder = new Recorder();
      consume(recorder, 'c', 'a', (m) => {
        if (m.deliveryCount === 1) {
          nakAt = Date.now();
          m.nak(delayMs);
          return;
        }
        return m.ack();
      });
      await bus.publish(subject('x'), bytes('later'));
      const [, second] = await recorder.waitFor(2);
      assert.ok(second);
      assert.equal(second.message.deliveryCount, 2);
      const waited = second.at - nakAt;
      assert.ok(
        waited >= delayMs - TIMER_SLACK_MS,
        `redelivered after ${waited} ms, before the ${delayMs} ms delay`,
      );
      assert.ok(waited < delayMs + 3_000, `redelivered only after ${waited} ms`);
      await idle('c');
      assert.equal(recorder.seen.length, 2);
    });

    it('spaces retries by the backoff list, marks the last attempt, and lets the caller dead-letter it', async () => {
      await bus.ensureStream({ name: `${stream}_DLQ`, subjects: [`dlq.${stream}.>`] });
      await consumer('retry', { maxDeliver: 3, backoffMs: [300, 600] });
      const recorder = new Recorder();
      consume(recorder, 'retry', 'a', async (m) => {
        if (!m.lastAttempt) {
          m.nak();
          return;
        }
        const letter = await publishDeadLetter(
          { publish: (_s, data, options) => bus.publish(`dlq.${stream}.fn`, data, options) },
          m,
          { namespace: 'default', function: 'fn' },
          'boom: 500 from the function',
        );
        assert.equal(letter.duplicate, false);
        m.term();
      });
      await bus.publish(subject('event'), bytes('doomed'), { msgId: 'evt-1' });
      const seen = await recorder.waitFor(3);
      assert.deepEqual(
        seen.map((s) => [s.message.deliveryCount, s.message.lastAttempt]),
        [
          [1, false],
          [2, false],
          [3, true],
        ],
      );
      const gaps = [seen[1], seen[2]].map((s, i) => (s?.at ?? 0) - (seen[i]?.at ?? 0));
      assert.ok((gaps[0] ?? 0) >= 300 - TIMER_SLACK_MS, `second try after ${gaps[0]} ms, backoff 300`);
      assert.ok((gaps[1] ?? 0) >= 600 - TIMER_SLACK_MS, `third try after ${gaps[1]} ms, backoff 600`);
      await idle('retry');
      assert.equal(recorder.seen.length, 3, 'no fourth delivery');

      await bus.ensureConsumer({ stream: `${stream}_DLQ`, name: 'dlq' });
      const letters = new Recorder();
      subscriptions.push(bus.consume(`${stream}_DLQ`, 'dlq', letters.handler('dlq')));
      const [letter] = await letters.waitFor(1);
      assert.ok(letter);
      assert.equal(new TextDecoder().decode(letter.message.data), 'doomed');
      assert.deepEqual(readDeadLetter(letter.message.headers), {
        namespace: 'default',
        function: 'fn',
        lastError: 'boom: 500 from the function',
        originalSubject: subject('event'),
        originalStream: stream,
        originalSeq: 1,
        originalId: 'evt-1',
        deliveryCount: 3,
        headers: {},
      });
    });

    it('naks a handler that throws, and a nak on the last attempt ends the message', async () => {
      await consumer('c', { maxDeliver: 2, ackWaitMs: 5_000 });
      const recorder = new Recorder();
      const errors: Error[] = [];
      subscriptions.push(
        bus.consume(
          stream,
          'c',
          recorder.handler('a', () => {
            throw new Error('handler bug');
          }),
          { onError: (err) => errors.push(err) },
        ),
      );
      await bus.publish(subject('x'), bytes('bad'));
      await recorder.waitFor(2);
      await idle('c');
      assert.equal(recorder.seen.length, 2);
      assert.equal(errors.length, 2);
      assert.match(String((errors[0]?.cause as Error).message), /handler bug/);
    });

    it('stops redelivering a terminated message', async () => {
      await consumer('c', { ackWaitMs: 200 });
      const recorder = new Recorder();
      consume(recorder, 'c', 'a', (m) => m.term());
      await bus.publish(subject('x'), bytes('poison'));
      await recorder.waitFor(1);
      await idle('c');
      await observeFor(700);
      assert.equal(recorder.seen.length, 1, 'no redelivery after term, past three ack waits');
    });

    it('redelivers a message nobody settles once its ack wait has passed', async () => {
      await consumer('c', { ackWaitMs: 400 });
      const recorder = new Recorder();
      // As if the worker died: the first delivery is neither acked nor naked.
      consume(recorder, 'c', 'a', (m) => (m.deliveryCount === 1 ? undefined : m.ack()));
      // The server's ack-wait clock starts when it sends the first delivery, which is after this
      // and before the handler sees it: a handler that saw the first delivery late would see the
      // second sooner than 400 ms after it (CI saw 390), never sooner than 400 after the publish.
      const publishedAt = Date.now();
      await bus.publish(subject('x'), bytes('orphan'));
      const [first, second] = await recorder.waitFor(2);
      assert.ok(first && second);
      assert.equal(second.message.deliveryCount, 2);
      assert.ok(
        second.at - publishedAt >= 400 - TIMER_SLACK_MS,
        `redelivered ${second.at - publishedAt} ms after the publish (first seen after ${first.at - publishedAt}), ack wait 400`,
      );
      await idle('c');
    });

    it('keeps a message in progress while its handler runs longer than the ack wait', async () => {
      await consumer('c', { ackWaitMs: 300 });
      const recorder = new Recorder();
      let finished = 0;
      consume(recorder, 'c', 'a', async (m) => {
        await observeFor(1_200); // a slow function: four ack waits
        finished++;
        await m.ack();
      });
      await bus.publish(subject('x'), bytes('slow'));
      await eventually(() => (finished === 1 ? true : undefined), 10_000, 'the slow handler');
      await idle('c');
      assert.equal(recorder.seen.length, 1, 'not redelivered while in progress');
    });

    it('holds deliveries to maxAckPending and handlers to the concurrency', async () => {
      await consumer('bounded', { maxAckPending: 2, filterSubject: subject('wide') });
      await consumer('narrow', { filterSubject: subject('narrow') });
      const bounded = new Recorder();
      const wide = probe();
      consume(bounded, 'bounded', 'a', wide.act, { concurrency: 5 });
      for (let i = 0; i < 6; i++) await bus.publish(subject('wide'), bytes(`w${i}`));
      await bounded.waitFor(2);
      await eventually(async () =>
        (await bus.consumerInfo(stream, 'bounded'))?.ackPending === 2 ? 1 : undefined,
      );
      await observeFor(300);
      assert.equal(bounded.seen.length, 2, 'maxAckPending 2 lets two out');
      wide.release();
      await bounded.waitFor(6);
      assert.equal(wide.most(), 2);

      const narrow = new Recorder();
      const few = probe();
      consume(narrow, 'narrow', 'a', few.act, { concurrency: 2 });
      for (let i = 0; i < 6; i++) await bus.publish(subject('narrow'), bytes(`n${i}`));
      await narrow.waitFor(2);
      await observeFor(300);
      assert.equal(few.running(), 2, 'concurrency 2 runs two at once');
      assert.equal(narrow.seen.length, 2);
      few.release();
      await narrow.waitFor(6);
      assert.equal(few.most(), 2);
    });

    it('stores a consumer as asked, so ensuring it again changes nothing', async () => {
      const asked: ConsumerConfig[] = [
        { stream, name: 'plain' },
        {
          stream,
          name: 'full',
          filterSubject: subject('orders.*'),
          maxDeliver: 4,
          backoffMs: [200, 1_000],
          maxAckPending: 7,
          deliverPolicy: 'new',
          description: 'a trigger',
        },
      ];
      for (const config of asked) {
        const created = await bus.ensureConsumer(config);
        assert.deepEqual(created.config, resolveConsumerConfig(config));
        assert.deepEqual((await bus.ensureConsumer(config)).config, created.config);
        assert.deepEqual((await bus.consumerInfo(stream, config.name))?.config, created.config);
      }
    });

    it('converges an existing consumer, and running subscriptions judge by the new rules', async () => {
      const created = await bus.ensureConsumer({ stream, name: 'c', maxDeliver: 1, ackWaitMs: 1_000 });
      assert.equal(created.config.maxDeliver, 1);
      const same = await bus.ensureConsumer({ stream, name: 'c', maxDeliver: 1, ackWaitMs: 1_000 });
      assert.deepEqual(same.config, created.config);

      const recorder = new Recorder();
      consume(recorder, 'c', 'a', (m) => (m.lastAttempt ? m.term() : m.nak()));
      await bus.publish(subject('x'), bytes('A'));
      const [a] = await recorder.waitFor(1);
      assert.equal(a?.message.lastAttempt, true, 'maxDeliver 1: the first delivery is the last');

      const updated = await bus.ensureConsumer({
        stream,
        name: 'c',
        maxDeliver: 2,
        ackWaitMs: 2_000,
        maxAckPending: 10,
        description: 'updated',
        deliverPolicy: 'new', // only at creation: not a change, and kept as it was
      });
      assert.equal(updated.config.maxDeliver, 2);
      assert.equal(updated.config.ackWaitMs, 2_000);
      assert.equal(updated.config.maxAckPending, 10);
      assert.equal(updated.config.description, 'updated');
      assert.equal(updated.config.deliverPolicy, 'all');
      const listed = await bus.listConsumers(stream);
      assert.deepEqual(
        listed.map((c) => [c.config.name, c.config.maxDeliver]),
        [['c', 2]],
      );

      await bus.publish(subject('x'), bytes('B'));
      await eventually(() => (recorder.countOf('B') === 2 ? true : undefined), 10_000, 'B twice');
      const b = recorder.seen.filter((s) => s.message.streamSeq === 2).map((s) => s.message.lastAttempt);
      assert.deepEqual(b, [false, true]);
      await idle('c');
    });

    it('deletes consumers and streams, and says when there was none', async () => {
      await consumer('gone');
      await consumer('kept');
      assert.deepEqual((await bus.listConsumers(stream)).map((c) => c.config.name).sort(), ['gone', 'kept']);
      assert.equal(await bus.deleteConsumer(stream, 'gone'), true);
      assert.equal(await bus.deleteConsumer(stream, 'gone'), false);
      assert.equal(await bus.consumerInfo(stream, 'gone'), undefined);
      assert.deepEqual(
        (await bus.listConsumers(stream)).map((c) => c.config.name),
        ['kept'],
      );
      assert.equal(await bus.deleteStream(stream), true);
      assert.equal(await bus.deleteStream(stream), false);
      assert.deepEqual(await bus.listConsumers(stream), []);
      assert.equal(await bus.consumerInfo(stream, 'kept'), undefined);
      await assert.rejects(bus.publish(subject('x'), bytes('x')), BusUnavailableError);
    });

    it('subscribes before the consumer exists and picks it up once created', async () => {
      const recorder = new Recorder();
      consume(recorder, 'late');
      await bus.publish(subject('x'), bytes('early'));
      await consumer('late');
      await recorder.waitFor(1);
      assert.deepEqual(recorder.bodies(), ['early']);
    });

    it('forgets what a work-queue stream had acknowledged, and allows it one consumer per subject', async () => {
      const queue = `${stream}_Q`;
      const on = (leaf: string) => `q.${stream}.${leaf}`;
      await bus.ensureStream({ name: queue, subjects: [`q.${stream}.>`], retention: 'workqueue' });
      await bus.ensureConsumer({ stream: queue, name: 'worker' });
      await assert.rejects(bus.ensureConsumer({ stream: queue, name: 'second' }), BusConfigError);
      await bus.publish(on('a'), bytes('done'));
      await bus.publish(on('b'), bytes('open'));
      const recorder = new Recorder();
      const subscription = bus.consume(
        queue,
        'worker',
        recorder.handler('a', (m) => (m.streamSeq === 1 ? m.ack() : undefined)),
      );
      await recorder.waitFor(2);
      await subscription.stop();
      await eventually(async () =>
        (await bus.consumerInfo(queue, 'worker'))?.ackPending === 1 ? 1 : undefined,
      );
      // A fresh consumer from the start finds only what was never acknowledged.
      assert.equal(await bus.deleteConsumer(queue, 'worker'), true);
      await bus.ensureConsumer({ stream: queue, name: 'again' });
      assert.equal((await bus.consumerInfo(queue, 'again'))?.pending, 1);
    });

    it('tells what a stream holds by subject, and when its oldest message was stored', async () => {
      const empty = await bus.streamState(stream);
      assert.deepEqual(empty, { messages: 0, oldestTimestamp: undefined, bySubject: new Map() });
      const before = Date.now();
      await bus.publish(subject('a'), bytes('1'));
      await bus.publish(subject('a'), bytes('2'));
      await bus.publish(subject('b'), bytes('3'));
      const state = await bus.streamState(stream);
      assert.equal(state?.messages, 3);
      assert.deepEqual([...(state?.bySubject ?? [])].sort(), [
        [subject('a'), 2],
        [subject('b'), 1],
      ]);
      const oldest = state?.oldestTimestamp ?? 0;
      assert.ok(oldest >= before - 1_000 && oldest <= Date.now() + 1_000, `oldest ${oldest}`);
      assert.equal(await bus.streamState(`${stream}_NONE`), undefined, 'no such stream');
      assert.equal(bus.reachable, true);
    });

    it('keeps a message on an interest stream until every consumer that wants it has it', async () => {
      const events = `${stream}_I`;
      const on = (leaf: string) => `i.${stream}.${leaf}`;
      await bus.ensureStream({ name: events, subjects: [`i.${stream}.>`], retention: 'interest' });
      await bus.publish(on('x'), bytes('nobody listens'));
      await bus.ensureConsumer({ stream: events, name: 'one' });
      await bus.ensureConsumer({ stream: events, name: 'two' });
      assert.equal((await bus.consumerInfo(events, 'one'))?.pending, 0, 'not kept without interest');
      await bus.publish(on('x'), bytes('for both'));
      const one = new Recorder();
      subscriptions.push(bus.consume(events, 'one', one.handler('one')));
      await one.waitFor(1);
      await eventually(async () =>
        (await bus.consumerInfo(events, 'one'))?.ackPending === 0 ? 1 : undefined,
      );
      await bus.ensureConsumer({ stream: events, name: 'late' });
      assert.equal(
        (await bus.consumerInfo(events, 'late'))?.pending,
        1,
        'kept while "two" has not acknowledged',
      );
      await bus.deleteConsumer(events, 'late');
      const two = new Recorder();
      subscriptions.push(bus.consume(events, 'two', two.handler('two')));
      await two.waitFor(1);
      await eventually(async () =>
        (await bus.consumerInfo(events, 'two'))?.ackPending === 0 ? 1 : undefined,
      );
      await bus.ensureConsumer({ stream: events, name: 'later' });
      assert.equal((await bus.consumerInfo(events, 'later'))?.pending, 0, 'gone once both have it');
    });

    it('refuses a stream whose subjects another stream takes, and updates its own', async () => {
      await assert.rejects(
        bus.ensureStream({ name: `${stream}_X`, subjects: [subject('clash')] }),
        BusConfigError,
      );
      await bus.ensureStream({ name: stream, subjects: [subject('>'), `more.${stream}`] });
      const ack = await bus.publish(`more.${stream}`, bytes('x'));
      assert.equal(ack.stream, stream);
      await assert.rejects(
        bus.ensureStream({ name: stream, subjects: [subject('>')], retention: 'workqueue' }),
        BusConfigError,
      );
    });

    it('keeps a subscription going when its consumer is deleted and created again', async () => {
      await consumer('c');
      const recorder = new Recorder();
      consume(recorder, 'c');
      await bus.publish(subject('x'), bytes('before'));
      await recorder.waitFor(1);
      await idle('c');
      assert.equal(await bus.deleteConsumer(stream, 'c'), true);
      await consumer('c', { deliverPolicy: 'new' });
      await bus.publish(subject('x'), bytes('after'));
      await recorder.waitFor(2);
      assert.deepEqual(recorder.bodies(), ['before', 'after']);
    });

    it('lets close() wait for the handler in progress, whose ack still goes through', async () => {
      await consumer('c');
      const recorder = new Recorder();
      const held = gate();
      let acked: 'yes' | 'no' | undefined;
      bus.consume(
        stream,
        'c',
        recorder.handler('a', async (m) => {
          await held.promise;
          acked = await m.ack().then(
            () => 'yes' as const,
            () => 'no' as const,
          );
        }),
      );
      await bus.publish(subject('x'), bytes('x'));
      await recorder.waitFor(1);
      const closed = bus.close();
      await assert.rejects(bus.publish(subject('x'), bytes('too late')), BusUnavailableError);
      held.open();
      await closed;
      assert.equal(acked, 'yes');
    });

    it('lets stop() finish the handler in progress', async () => {
      await consumer('c');
      const recorder = new Recorder();
      let done = false;
      const held = gate();
      const subscription = bus.consume(
        stream,
        'c',
        recorder.handler('a', async (m) => {
          await held.promise;
          await m.ack();
          done = true;
        }),
      );
      await bus.publish(subject('x'), bytes('x'));
      await recorder.waitFor(1);
      const stopped = subscription.stop();
      held.open();
      await stopped;
      assert.equal(done, true);
      await idle('c');
    });

    if (!capabilities.serverControl) return;

    it('fails a publish fast with BusUnavailableError while the server is away, and recovers', async () => {
      const server = fixture.server;
      assert.ok(server);
      await consumer('c');
      const recorder = new Recorder();
      consume(recorder, 'c');
      await server.pause();
      for (const attempt of ['right away', 'a moment later']) {
        const started = Date.now();
        await assert.rejects(bus.publish(subject('x'), bytes('lost')), BusUnavailableError, attempt);
        const took = Date.now() - started;
        assert.ok(took < UNAVAILABLE_BOUND_MS, `publish failed after ${took} ms (${attempt})`);
      }
      const started = Date.now();
      await assert.rejects(bus.consumerInfo(stream, 'c'), BusUnavailableError);
      assert.ok(Date.now() - started < UNAVAILABLE_BOUND_MS);
      await server.resume();
      await eventually(
        () => bus.publish(subject('x'), bytes('after')).then(() => true),
        15_000,
        'a publish after the server is back',
      );
      await recorder.waitFor(1);
      assert.deepEqual(recorder.bodies(), ['after']);
    });

    it('delivers every acknowledged message when the server restarts mid-stream', async () => {
      const server = fixture.server;
      assert.ok(server);
      await consumer('c', { ackWaitMs: 2_000 });
      const recorder = new Recorder();
      consume(recorder, 'c', 'a', (m) => m.ack().catch(() => {}), { concurrency: 8 });
      const acknowledged = new Set<string>();
      let refused = 0;
      // A client that retries with the same id until the bus acknowledges, as the gateway's callers do.
      const publish = async (i: number) => {
        for (;;) {
          try {
            await bus.publish(subject('stream'), bytes(`m${i}`), { msgId: `m${i}` });
            acknowledged.add(`m${i}`);
            return;
          } catch (err) {
            if (!(err instanceof BusUnavailableError)) throw err;
            refused++;
            await observeFor(50);
          }
        }
      };
      const total = 300;
      for (let i = 0; i < 100; i++) await publish(i);
      const pidBefore = server.pid;
      const rest = (async () => {
        for (let i = 100; i < total; i++) await publish(i);
      })();
      await server.restart();
      await rest;
      assert.notEqual(server.pid, pidBefore, 'the server restarted');
      assert.equal(acknowledged.size, total);
      await eventually(
        () => ([...acknowledged].every((id) => recorder.countOf(id) > 0) ? true : undefined),
        20_000,
        'every acknowledged message to be delivered',
      );
      await idle('c');
      assert.equal(
        new Set(recorder.bodies()).size,
        total,
        `all ${total} delivered (${refused} publishes refused)`,
      );
    });
  });
}
