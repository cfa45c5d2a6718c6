import assert from 'node:assert/strict';
import type { BusMessage } from '@nimbus/bus';
import { ManualClock, eventually } from '@nimbus/testkit';
import { type LineBreak, OrderedLine } from '../src/triggers/ordered-line.js';

/** A delivery of stream sequence `seq` whose ack does what `ack` says, recorded in `acked`. */
function message(seq: number, acked: number[], ack: () => Promise<void> = async () => {}): BusMessage {
  return {
    id: `e${seq}`,
    subject: 'nimbus.sources.shop.orders.db',
    stream: 'NIMBUS_SOURCES',
    streamSeq: seq,
    data: new Uint8Array(),
    headers: {},
    deliveryCount: 1,
    timestamp: 0,
    lastAttempt: false,
    ack: async () => {
      await ack();
      acked.push(seq);
    },
    nak() {},
    term() {},
    working() {},
  };
}

function line(attempt: (m: BusMessage) => Promise<void>, redeliveries = 0) {
  const broke: LineBreak[] = [];
  const clock = new ManualClock(0);
  const l = new OrderedLine({
    policy: { maxDeliver: 3, backoffMs: [] },
    clock,
    attempt,
    broke: (why) => broke.push(why),
    redeliveries,
  });
  return { line: l, broke, clock };
}

describe('OrderedLine: one event after another, and nothing settled out of turn', () => {
  it('sorts the redeliveries it expects before it starts: JetStream gives them in expiry order', async () => {
    const ran: number[] = [];
    const acked: number[] = [];
    const { line: l, broke } = line(async (m) => {
      ran.push(m.streamSeq);
      await m.ack();
    }, 3);
    await Promise.all([5, 3, 4].map((seq) => l.handle(message(seq, acked))));
    await l.acks();
    assert.deepEqual(ran, [3, 4, 5]);
    assert.deepEqual(acked, [3, 4, 5]);
    assert.deepEqual(broke, []);
  });

  it('an ack that does not land breaks the line: no later event is acked, none after the next is called', async () => {
    const ran: number[] = [];
    const acked: number[] = [];
    let refuse: (err: Error) => void = () => {};
    const refused = new Promise<void>((_, reject) => {
      refuse = reject;
    });
    const { line: l, broke } = line(async (m) => {
      ran.push(m.streamSeq);
      await m.ack();
    });
    const handled = [
      l.handle(message(1, acked, () => refused)),
      l.handle(message(2, acked)),
      l.handle(message(3, acked)),
    ];
    // The ack of 1 is still out while 2 is called: its round trip overlaps the next call.
    await eventually(() => ran.includes(2) || undefined, 2_000, 'event 2 called while 1 is being acked');
    refuse(new Error('NATS is unreachable'));
    await Promise.all(handled);
    await l.acks();
    assert.deepEqual(broke, ['ack-failed']);
    assert.deepEqual(acked, [], 'nothing acked after the ack that failed');
    assert.equal(ran.includes(3), false, 'the line stopped');
  });

  it('an event older than one already handed over breaks the line (a redelivery overtaking)', async () => {
    const acked: number[] = [];
    const { line: l, broke } = line(async (m) => m.ack());
    await l.handle(message(7, acked));
    await l.handle(message(6, acked));
    await l.acks();
    assert.deepEqual(broke, ['out-of-order']);
    assert.deepEqual(acked, [7]);
  });

  it('a failure is retried in place after the backoff step, with the attempt counted, then ends the line’s turn', async () => {
    const attempts: number[] = [];
    const acked: number[] = [];
    const { line: l, clock } = line(async (m) => {
      attempts.push(m.deliveryCount);
      if (m.lastAttempt) m.term();
      else m.nak(50);
    });
    const done = l.handle(message(1, acked));
    await eventually(() => attempts.length === 1 || undefined, 2_000, 'first attempt');
    clock.advance(50);
    await eventually(() => attempts.length === 2 || undefined, 2_000, 'second attempt');
    clock.advance(50);
    await done;
    await l.acks();
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(acked, [1], 'dead-lettered events are acked, so the line moves on');
  });
});
