import { strict as assert } from 'node:assert';
import { ManualClock, settle } from '@nimbus/testkit';
import { BusUnavailableError, MemoryBus, type MessageBus } from '../src/index.js';
import { Recorder, bytes, gate } from './support/recorder.js';

/** The memory bus on a clock that only moves when told to: exact timings without sleeping. */
describe('MemoryBus on a manual clock', () => {
  let clock: ManualClock;
  let bus: MessageBus;
  /** Milliseconds of manual time at each delivery. */
  let times: number[];
  let start: number;

  beforeEach(async () => {
    clock = new ManualClock(1_700_000_000_000);
    start = clock.now();
    bus = new MemoryBus({ clock });
    times = [];
    await bus.ensureStream({ name: 'S', subjects: ['s.>'], duplicateWindowMs: 60_000, maxAgeMs: 3_600_000 });
  });

  afterEach(() => bus.close());

  const record = (recorder: Recorder, act: Parameters<Recorder['handler']>[1]) =>
    recorder.handler('a', (m) => {
      times.push(clock.now() - start);
      return act?.(m);
    });

  it('redelivers a nak with a delay exactly when the delay is up', async () => {
    await bus.ensureConsumer({ stream: 'S', name: 'c' });
    const recorder = new Recorder();
    bus.consume(
      'S',
      'c',
      record(recorder, (m) => (m.deliveryCount === 1 ? m.nak(1_000) : m.ack())),
    );
    await bus.publish('s.x', bytes('x'));
    await settle();
    await clock.advanceAndSettle(999);
    assert.deepEqual(times, [0]);
    await clock.advanceAndSettle(1);
    assert.deepEqual(times, [0, 1_000]);
    assert.equal(recorder.seen[1]?.message.deliveryCount, 2);
  });

  it('spaces naks by the backoff list, repeating its last step, up to maxDeliver', async () => {
    await bus.ensureConsumer({ stream: 'S', name: 'c', maxDeliver: 4, backoffMs: [100, 300] });
    const recorder = new Recorder();
    bus.consume(
      'S',
      'c',
      record(recorder, (m) => m.nak()),
    );
    await bus.publish('s.x', bytes('x'));
    await settle();
    await clock.advanceAndSettle(10_000);
    assert.deepEqual(times, [0, 100, 400, 700]);
    assert.deepEqual(
      recorder.seen.map((s) => s.message.lastAttempt),
      [false, false, false, true],
    );
    assert.equal((await bus.consumerInfo('S', 'c'))?.ackPending, 0, 'the nak on the last attempt ended it');
  });

  it('redelivers an unsettled message at its ack wait, or at the backoff step for that delivery', async () => {
    await bus.ensureConsumer({ stream: 'S', name: 'plain', ackWaitMs: 500, filterSubject: 's.plain' });
    await bus.ensureConsumer({
      stream: 'S',
      name: 'stepped',
      maxDeliver: 3,
      backoffMs: [200, 700],
      filterSubject: 's.stepped',
    });
    const plain: number[] = [];
    const stepped: number[] = [];
    bus.consume('S', 'plain', () => {
      plain.push(clock.now() - start);
    });
    bus.consume('S', 'stepped', () => {
      stepped.push(clock.now() - start);
    });
    await bus.publish('s.plain', bytes('x'));
    await bus.publish('s.stepped', bytes('x'));
    await settle();
    await clock.advanceAndSettle(1_200);
    assert.deepEqual(plain, [0, 500, 1_000]);
    assert.deepEqual(stepped, [0, 200, 900]);
    await clock.advanceAndSettle(5_000);
    assert.deepEqual(stepped, [0, 200, 900], 'not after maxDeliver');
  });

  it('keeps a message in progress for as long as its handler runs', async () => {
    await bus.ensureConsumer({ stream: 'S', name: 'c', ackWaitMs: 300 });
    const recorder = new Recorder();
    const held = gate();
    bus.consume(
      'S',
      'c',
      record(recorder, async (m) => {
        await held.promise;
        await m.ack();
      }),
    );
    await bus.publish('s.x', bytes('x'));
    await settle();
    await clock.advanceAndSettle(3_000);
    assert.deepEqual(times, [0], 'ten ack waits, no redelivery');
    held.open();
    await settle();
    await clock.advanceAndSettle(3_000);
    assert.deepEqual(times, [0]);
    assert.equal((await bus.consumerInfo('S', 'c'))?.ackPending, 0);
  });

  it('forgets a message id once the duplicate window has passed', async () => {
    await bus.ensureStream({ name: 'S', subjects: ['s.>'], duplicateWindowMs: 60_000, maxAgeMs: 3_600_000 });
    const first = await bus.publish('s.x', bytes('x'), { msgId: 'id-1' });
    await clock.advanceAndSettle(59_999);
    assert.equal((await bus.publish('s.x', bytes('x'), { msgId: 'id-1' })).duplicate, true);
    await clock.advanceAndSettle(1);
    const later = await bus.publish('s.x', bytes('x'), { msgId: 'id-1' });
    assert.equal(later.duplicate, false);
    assert.equal(later.seq, first.seq + 1);
  });

  it('drops messages older than the max age', async () => {
    await bus.ensureConsumer({ stream: 'S', name: 'c' });
    await bus.publish('s.x', bytes('old'));
    await clock.advanceAndSettle(1_800_000);
    await bus.publish('s.x', bytes('new'));
    assert.equal((await bus.consumerInfo('S', 'c'))?.pending, 2);
    await clock.advanceAndSettle(1_800_000);
    await bus.publish('s.x', bytes('newest'));
    assert.equal((await bus.consumerInfo('S', 'c'))?.pending, 2, 'the first is past an hour');
    const recorder = new Recorder();
    bus.consume('S', 'c', recorder.handler('a'));
    await settle();
    assert.deepEqual(recorder.bodies(), ['new', 'newest']);
  });

  it('refuses everything once closed', async () => {
    await bus.close();
    await assert.rejects(bus.publish('s.x', bytes('x')), (err: unknown) => {
      assert.ok(err instanceof BusUnavailableError);
      assert.equal(err.reason, 'closed');
      return true;
    });
    await assert.rejects(bus.ensureConsumer({ stream: 'S', name: 'c' }), BusUnavailableError);
    assert.throws(() => bus.consume('S', 'c', () => {}), BusUnavailableError);
  });
});
