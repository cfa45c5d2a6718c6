import 'reflect-metadata';
import assert from 'node:assert/strict';
import { settle as flush } from '@nimbus/testkit';
import { Cancellation } from '../src/invoke/cancellation.js';
import { ConcurrencyLimiter, type Permit } from '../src/invoke/concurrency-limiter.js';

const never = new Cancellation();

describe('ConcurrencyLimiter', () => {
  it('grants up to the concurrency at once', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 2, queueSize: 0 });
    const a = limiter.acquire(never);
    const b = limiter.acquire(never);
    assert.ok(a && b);
    await Promise.all([a, b]);
    assert.equal(limiter.inflight, 2);
    assert.equal(limiter.acquire(never), undefined, 'no queue: the third is refused');
  });

  it('queues FIFO up to the queue size, then refuses', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 1, queueSize: 2 });
    const first = await limiter.acquire(never);
    assert.ok(first);
    const order: string[] = [];
    const second = limiter.acquire(never)?.then((p) => {
      order.push('second');
      return p;
    });
    const third = limiter.acquire(never)?.then((p) => {
      order.push('third');
      return p;
    });
    assert.equal(limiter.queued, 2);
    assert.equal(limiter.acquire(never), undefined);

    first.release();
    const secondPermit = await second;
    await flush();
    assert.deepEqual(order, ['second']);
    assert.equal(limiter.inflight, 1, 'the slot passed straight to the waiter');
    assert.equal(limiter.queued, 1);

    secondPermit?.release();
    (await third)?.release();
    assert.deepEqual(order, ['second', 'third']);
    assert.equal(limiter.inflight, 0);
    assert.equal(limiter.queued, 0);
  });

  it('ignores a second release of the same permit', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 1, queueSize: 1 });
    const permit = (await limiter.acquire(never)) as Permit;
    const waiting = limiter.acquire(never);
    permit.release();
    permit.release();
    await waiting;
    assert.equal(limiter.inflight, 1, "a double release must not free the waiter's slot");
  });

  it('drops a queued waiter whose signal aborts, rejecting with the reason', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 1, queueSize: 1 });
    const holder = (await limiter.acquire(never)) as Permit;
    const cancellation = new Cancellation();
    const queued = limiter.acquire(cancellation);
    assert.equal(limiter.queued, 1);
    const reason = new Error('client gone');
    cancellation.abort(reason);
    await assert.rejects(queued as Promise<Permit>, (error) => error === reason);
    assert.equal(limiter.queued, 0);
    assert.ok(limiter.acquire(never), 'the freed queue place is usable again');
    holder.release();
  });

  it('rejects at once for an already aborted signal', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 1, queueSize: 1 });
    const cancellation = new Cancellation();
    cancellation.abort(new Error('late'));
    await assert.rejects(limiter.acquire(cancellation) as Promise<Permit>, /late/);
    assert.equal(limiter.inflight, 0);
  });

  it('grants a free slot synchronously with tryAcquire, and never ahead of a waiter', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 1, queueSize: 1 });
    const first = limiter.tryAcquire();
    assert.ok(first);
    assert.equal(limiter.inflight, 1);
    assert.equal(limiter.tryAcquire(), undefined, 'no free slot');
    const waiting = limiter.acquire(never);
    first.release();
    assert.equal(limiter.tryAcquire(), undefined, 'the freed slot went to the waiter');
    (await waiting)?.release();
    assert.equal(limiter.inflight, 0);
  });
});
