import { inject, injectable } from 'tsyringe';
import type { RuntimeConfig } from './config.js';
import type { LimiterStats } from './runtime-metrics.js';
import { TOKENS } from './tokens.js';

/** A held concurrency slot; release is idempotent. */
export interface Permit {
  release(): void;
}

interface Waiter {
  grant(permit: Permit): void;
}

/**
 * At most `concurrency` holders, then a FIFO queue of at most `queueSize` waiters. A waiter whose
 * signal aborts (client gone, deadline passed) leaves the queue at once.
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
   * A permit now, a place in the queue, or `undefined` when slots and queue are both full (429).
   * The promise rejects with `signal.reason` if the signal aborts before a slot is granted.
   */
  acquire(signal: AbortSignal): Promise<Permit> | undefined {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.active < this.concurrency) {
      this.active += 1;
      return Promise.resolve(this.permit());
    }
    if (this.waiters.size >= this.queueSize) return undefined;
    return new Promise<Permit>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        grant: (permit) => {
          signal.removeEventListener('abort', onAbort);
          resolve(permit);
        },
      };
      this.waiters.add(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private permit(): Permit {
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.handOver();
      },
    };
  }

  /** The freed slot goes straight to the oldest waiter, so `active` only drops when nobody waits. */
  private handOver(): void {
    const next = this.waiters.values().next();
    if (next.done) {
      this.active -= 1;
      return;
    }
    this.waiters.delete(next.value);
    next.value.grant(this.permit());
  }
}
