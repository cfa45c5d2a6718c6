import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { eventually } from '@nimbus/testkit';
import { type BusMessage, BusUnavailableError, type MessageBus, type Subscription } from '../../src/index.js';
import type { BusFixture } from './message-bus-contract.js';
import { bytes, observeFor } from './recorder.js';

const ACK_WAIT_MS = 1_000;

/**
 * `ackLater()`, which an ordered trigger's line uses to ack a batch with one reply: every adapter
 * settles it without a reply, and the `ack()` after it resolves only if it landed.
 */
export function describeAckLaterContract(
  name: string,
  makeBus: () => Promise<BusFixture>,
  capabilities: { serverControl: boolean },
): void {
  describe(`MessageBus contract, acks in batches: ${name}`, function () {
    this.timeout(30_000);
    let fixture: BusFixture;
    let bus: MessageBus;
    let stream: string;
    let subject: string;
    const subscriptions: Subscription[] = [];

    beforeEach(async () => {
      fixture = await makeBus();
      bus = fixture.bus;
      const id = randomUUID().slice(0, 8);
      stream = `L_${id}`;
      subject = `l.${id}.events`;
      await bus.ensureStream({ name: stream, subjects: [subject], retention: 'workqueue' });
      await bus.ensureConsumer({ stream, name: 'c', ackWaitMs: ACK_WAIT_MS, maxAckPending: 8 });
    });

    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((s) => s.stop()));
      await fixture.close();
    });

    /** Holds every delivery (up to `count` at once) until the test settles it; records each. */
    function hold(count: number) {
      const seen: BusMessage[] = [];
      const released = new Set<() => void>();
      subscriptions.push(
        bus.consume(
          stream,
          'c',
          (m) => {
            seen.push(m);
            return new Promise<void>((resolve) => released.add(resolve));
          },
          { concurrency: count },
        ),
      );
      return {
        seen,
        release: () => {
          for (const resolve of released) resolve();
          released.clear();
        },
      };
    }

    const publish = async (count: number) => {
      for (let i = 0; i < count; i++) await bus.publish(subject, bytes(`e${i}`));
    };

    const settled = () =>
      eventually(
        async () => {
          const info = await bus.consumerInfo(stream, 'c');
          return info?.pending === 0 && info.ackPending === 0 ? info : undefined;
        },
        10_000,
        'nothing pending or out',
      );

    it('settles what ackLater() acked once the ack() after it resolves, and nothing comes again', async () => {
      const held = hold(5);
      await publish(5);
      await eventually(() => held.seen.length === 5 || undefined, 10_000, 'five deliveries in hand');
      for (const m of held.seen.slice(0, 4)) m.ackLater?.();
      await held.seen[4]?.ack();
      held.release();
      const info = await settled();
      assert.equal(info.ackPending, 0, 'the four acked later are settled too');
      // Past the ack wait: an ack that had not landed would be redelivered by now.
      await observeFor(ACK_WAIT_MS + 500);
      assert.equal(held.seen.length, 5, 'nothing came again');
      assert.deepEqual(
        held.seen.map((m) => m.deliveryCount),
        [1, 1, 1, 1, 1],
      );
    });

    it('ackLater() counts as the settling call: a nak or ack after it sends nothing', async () => {
      const held = hold(2);
      await publish(2);
      await eventually(() => held.seen.length === 2 || undefined, 10_000, 'two deliveries in hand');
      const [first, second] = held.seen as [BusMessage, BusMessage];
      first.ackLater?.();
      first.nak(0);
      await second.ack();
      held.release();
      await settled();
      await observeFor(ACK_WAIT_MS + 500);
      assert.equal(held.seen.length, 2, 'the nak after ackLater() redelivered nothing');
    });

    if (!capabilities.serverControl) return;

    it('an ackLater() while the server is away makes the next ack() reject: that event comes again', async () => {
      const server = fixture.server;
      assert.ok(server);
      const held = hold(2);
      await publish(2);
      await eventually(() => held.seen.length === 2 || undefined, 10_000, 'two deliveries in hand');
      const [first, second] = held.seen as [BusMessage, BusMessage];
      await server.pause();
      await eventually(() => !bus.reachable || undefined, 10_000, 'the bus to see the server gone');
      first.ackLater?.();
      await server.resume();
      await eventually(() => bus.reachable || undefined, 15_000, 'the bus to reconnect');
      await assert.rejects(second.ack(), BusUnavailableError, 'the ack cannot vouch for the one before it');
      held.release();
      const again = await eventually(
        () => held.seen.find((m, i) => i >= 2 && m.streamSeq === first.streamSeq),
        15_000,
        'the event acked while the server was away, again',
      );
      assert.equal(again.deliveryCount, 2);
      await again.ack();
      held.release();
    });
  });
}
