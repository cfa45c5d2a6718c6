import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import { WorkQueue } from '../src/reconcile/work-queue.js';

/** A queue on a manual clock, with a worker that takes the next key as the controller's workers do. */
function world() {
  const clock = new ManualClock();
  const queue = new WorkQueue(clock, { baseDelayMs: 100, maxDelayMs: 1000 });
  const take = async (want: string) => assert.equal(await queue.next(), want);
  return { clock, queue, take };
}

describe('WorkQueue: the reconcile lag (nimbus_controller_reconcile_lag_seconds)', () => {
  it('runs from the change being seen to the reconcile that took it in succeeding', async () => {
    const { clock, queue, take } = world();
    queue.add('team/a');
    clock.advance(120);
    await take('team/a');
    clock.advance(30);
    assert.equal(queue.forget('team/a'), 150);
    queue.done('team/a');
  });

  it('counts the retries of a failing reconcile, from the first sight of the change', async () => {
    const { clock, queue, take } = world();
    queue.add('team/a');
    clock.advance(10);
    await take('team/a');
    assert.equal(queue.addRateLimited('team/a'), 100);
    queue.done('team/a');
    // A second change while it waits to retry does not restart the count.
    clock.advance(50);
    queue.add('team/a');
    clock.advance(150);
    await take('team/a');
    clock.advance(5);
    assert.equal(queue.forget('team/a'), 215);
  });

  it('times a change seen while its key was being reconciled from when it was seen', async () => {
    const { clock, queue, take } = world();
    queue.add('team/a');
    await take('team/a');
    clock.advance(20);
    queue.add('team/a');
    clock.advance(10);
    assert.equal(queue.forget('team/a'), 30, 'the first reconcile took in the first change');
    queue.done('team/a');
    await take('team/a');
    clock.advance(5);
    assert.equal(queue.forget('team/a'), 15, 'the second, the change seen at 20');
  });

  it('reports nothing for a key that was never handed out', () => {
    const { queue } = world();
    assert.equal(queue.forget('team/a'), undefined);
  });
});
