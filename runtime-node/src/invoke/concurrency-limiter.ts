import { inject, injectable } from 'tsyringe';
import type { RuntimeConfig } from '../config.js';
import type { LimiterStats } from '../metrics/runtime-metrics.js';
import { TOKENS } from '../tokens.js';
import type { Cancellation } from './cancellation.js';

/** A held concurrency slot; release is idempotent. */
export interface Permit {
  release(): void;
}

interface Waiter {
  grant(permit: Permit): void;
}

/**
 * At most `concurrency` holders, then a FIFO queue of at most `queueSize` waiters. A waiter whose
 * invocation is cancelled (client gone, deadline passed) leaves the queue at once.
 */
@injectable()
export class ConcurrencyLimiter implements LimiterStats {
  private active = 0;
  // A Set keeps insertion order (FIFO) and removes an aborted waiter from the middle in O(1).
  private readonly waiters = new Set<Waiter>();
  private readonly concurrency: number;
  private readonly queueSize: number;

  constructor(@inject(TOKENS.Config) config: Pick<RuntimeConfig, 'concurrency' | 'queueSize'>) {
    this.concurrency = config.concurrency;
    this.queueSize = config.queueSize;
  }

  get inflight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiters.size;
  }

  /**
   * A permit if a slot is free, else `undefined`. Never jumps the queue: waiters only exist while
   * every slot is held, because a freed slot goes straight to the oldest of them.
   */
  tryAcquire(): Permit | undefined {
    if (this.active >= this.concurrency) return undefined;
    this.active += 1;
    return this.permit();
  }

  /**
   * A permit now, a place in the queue, or `undefined` when slots and queue are both full (429).
   * The promise rejects with the cancellation's reason if it is cancelled before a slot is granted.
   */
  acquire(cancellation: Cancellation): Promise<Permit> | undefined {
    if (cancellation.aborted) return Promise.reject(cancellation.reason);
    const permit = this.tryAcquire();
    if (permit !== undefined) return Promise.resolve(permit);
    if (this.waiters.size >= this.queueSize) return undefined;
    return new Promise<Permit>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(cancellation.reason);
      };
      const waiter: Waiter = {
        grant: (permit) => {
          cancellation.offAbort(onAbort);
          resolve(permit);
        },
      };
      this.waiters.add(waiter);
      cancellation.onAbort(onAbort);
    });
  }

  private permit(): Permit {
    return new SlotPermit(this.handOver);
  }

  /** The freed slot goes straight to the oldest waiter, so `active` only drops when nobody waits. */
  private readonly handOver = (): void => {
    if (this.waiters.size === 0) {
      this.active -= 1;
      return;
    }
    const next = this.waiters.values().next();
    if (next.done) return;
    this.waiters.delete(next.value);
    next.value.grant(this.permit());
  };
}

/** One object per permit, not a closure and its scope: every invocation takes one. */
class SlotPermit implements Permit {
  private held = true;

  constructor(private readonly handOver: () => void) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.handOver();
  }
}
