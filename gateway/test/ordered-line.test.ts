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

/** Like `message`, with `ackLater()` as a bus gives it; `sent` records each ack as it goes out. */
function batched(seq: number, sent: string[], ack: () => Promise<void> = async () => {}): BusMessage {
  return {
    ...message(seq, []),
    ack: async () => {
      sent.push(`ack ${seq}`);
      await ack();
    },
    ackLater: () => {
      sent.push(`later ${seq}`);
    },
  };
}

/** Lets pending work run for a moment and checks that `happened` stays false. */
async function observe(happened: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(happened(), false, what);
  }
}

function line(attempt: (m: BusMessage) => Promise<void>, redeliveries = 0, ackEvery?: number) {
  const broke: LineBreak[] = [];
  const clock = new ManualClock(0);
  const l = new OrderedLine({
    policy: { maxDeliver: 3, backoffMs: [] },
    clock,
    attempt,
    broke: (why) => broke.push(why),
    redeliveries,
    ackEvery,
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

  it('acks a batch at a time: ackLater() for all but the last, whose ack() vouches for them', async () => {
    const sent: string[] = [];
    const { line: l, broke } = line((m) => m.ack(), 0, 4);
    await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((seq) => l.handle(batched(seq, sent))));
    await l.acks();
    assert.deepEqual(sent, [
      'later 1',
      'later 2',
      'later 3',
      'ack 4',
      'later 5',
      'later 6',
      'later 7',
      'ack 8',
    ]);
    assert.deepEqual(broke, []);
  });

  it('acks a short batch as soon as nothing more is in hand (the bus sends more only once acked)', async () => {
    const sent: string[] = [];
    const { line: l } = line((m) => m.ack(), 0, 4);
    await Promise.all([1, 2, 3, 4, 5, 6].map((seq) => l.handle(batched(seq, sent))));
    await eventually(() => sent.length === 6 || undefined, 2_000, 'six acks sent');
    assert.deepEqual(sent, ['later 1', 'later 2', 'later 3', 'ack 4', 'later 5', 'ack 6']);
  });

  it('a slow call does not hold back the acks of the events before it past the ack delay', async () => {
    const sent: string[] = [];
    let finish: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const { line: l, clock } = line(
      async (m) => {
        if (m.streamSeq === 3) await slow;
        await m.ack();
      },
      0,
      8,
    );
    const handled = [1, 2, 3].map((seq) => l.handle(batched(seq, sent)));
    await observe(() => sent.length > 0, 'no ack before the delay');
    clock.advance(20);
    await eventually(() => sent.length === 2 || undefined, 2_000, 'the acks of 1 and 2');
    assert.deepEqual(sent, ['later 1', 'ack 2']);
    finish();
    await Promise.all(handled);
    await l.acks();
    assert.deepEqual(sent, ['later 1', 'ack 2', 'ack 3']);
  });

  it('an event’s handler runs until its batch is acked, so the bus reports progress for it meanwhile', async () => {
    const sent: string[] = [];
    let finish: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const { line: l, clock } = line(
      async (m) => {
        if (m.streamSeq === 2) await slow;
        await m.ack();
      },
      0,
      8,
    );
    let firstDone = false;
    const first = l.handle(batched(1, sent)).then(() => {
      firstDone = true;
    });
    const second = l.handle(batched(2, sent));
    await observe(() => firstDone, 'the handler of 1 ended before its ack went out');
    clock.advance(20);
    await first;
    assert.deepEqual(sent, ['ack 1']);
    finish();
    await second;
    assert.deepEqual(sent, ['ack 1', 'ack 2']);
  });

  it('a batch whose ack fails breaks the line: no later batch goes out, what it held comes again', async () => {
    const sent: string[] = [];
    const ran: number[] = [];
    let refuse: (err: Error) => void = () => {};
    const refused = new Promise<void>((_, reject) => {
      refuse = reject;
    });
    const { line: l, broke } = line(
      async (m) => {
        ran.push(m.streamSeq);
        await m.ack();
      },
      0,
      2,
    );
    const handled = [1, 2, 3, 4, 5, 6].map((seq) =>
      l.handle(batched(seq, sent, seq === 2 ? () => refused : undefined)),
    );
    // Events 3 and 4 are called while the batch 1-2 is out; 5 waits for it to land.
    await eventually(() => ran.includes(4) || undefined, 2_000, 'event 4 called');
    await observe(() => ran.includes(5), 'event 5 called before the batch before the last landed');
    refuse(new Error('NATS is unreachable'));
    await Promise.all(handled);
    await l.acks();
    assert.deepEqual(broke, ['ack-failed']);
    assert.deepEqual(sent, ['later 1', 'ack 2'], 'the batch 3-4 never went out');
    assert.deepEqual(ran, [1, 2, 3, 4]);
  });

  it('drained mid-call, it settles the call in progress and sends every ack it held; nothing after runs', async () => {
    const sent: string[] = [];
    const ran: number[] = [];
    let finish: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const { line: l } = line(
      async (m) => {
        ran.push(m.streamSeq);
        if (m.streamSeq === 3) await slow;
        await m.ack();
      },
      0,
      8,
    );
    const handled = [1, 2, 3, 4].map((seq) => l.handle(batched(seq, sent)));
    await eventually(() => ran.includes(3) || undefined, 2_000, 'event 3 called');
    l.drain();
    finish();
    await Promise.all(handled);
    await l.acks();
    assert.deepEqual(sent, ['later 1', 'later 2', 'ack 3']);
    assert.deepEqual(ran, [1, 2, 3], 'event 4 is left to come again');
  });

  it('closed (the lease is lost), it sends none of the acks it held', async () => {
    const sent: string[] = [];
    let finish: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const { line: l } = line(
      async (m) => {
        if (m.streamSeq === 3) await slow;
        await m.ack();
      },
      0,
      8,
    );
    const handled = [1, 2, 3].map((seq) => l.handle(batched(seq, sent)));
    await observe(() => sent.length > 0, 'no ack yet');
    l.close();
    finish();
    await Promise.all(handled);
    await l.acks();
    assert.deepEqual(sent, [], 'another gateway may be delivering them: they come again there');
  });
});
