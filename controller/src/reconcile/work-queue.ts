import { type Clock, backoffDelay } from '@nimbus/api';

export interface WorkQueueOptions {
  /** First retry delay after a failure; doubles with each further failure of the same key. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Keys waiting to be reconciled, in the manner of client-go's rate-limited work queue:
 * a key is queued at most once however often it is added; a key being processed is never handed
 * to a second worker, and one added meanwhile is handed out again once the first is done;
 * a failed key comes back after a per-key exponential delay until `forget` clears its count.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Added while processing: goes back in the queue when `done` is called. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: unknown }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  /** When the oldest change not yet reconciled was seen, by key: queued, delayed or dirty ones. */
  private readonly changedAt = new Map<string, number>();
  /** The same for the keys being processed: what their success reports as the lag. */
  private readonly takenChangedAt = new Map<string, number>();
  private shuttingDown = false;

  constructor(
    private readonly clock: Clock,
    private readonly options: WorkQueueOptions,
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  /** Queued, waiting out a retry delay, or being processed. */
  has(key: string): boolean {
    return this.queued.has(key) || this.processing.has(key) || this.delayed.has(key);
  }

  /** How many times in a row the key has failed. */
  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** True while the key waits out a retry delay. */
  isWaitingToRetry(key: string): boolean {
    return this.delayed.has(key);
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (!this.changedAt.has(key)) this.changedAt.set(key, this.clock.now());
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.take(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds the key after `ms`; an earlier pending add for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      const pending = this.delayed.get(key);
      if (pending !== undefined) this.clock.clearTimeout(pending.timer);
      this.delayed.delete(key);
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending !== undefined && pending.at <= at) return;
    if (pending !== undefined) this.clock.clearTimeout(pending.timer);
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Adds the key again after its failure delay, and counts the failure; its change stays unreconciled. */
  addRateLimited(key: string): number {
    const taken = this.takenChangedAt.get(key);
    const pending = this.changedAt.get(key);
    if (taken !== undefined && (pending === undefined || taken < pending)) this.changedAt.set(key, taken);
    const count = this.failureCount(key) + 1;
    this.failures.set(key, count);
    const delay = backoffDelay({ baseMs: this.options.baseDelayMs, maxMs: this.options.maxDelayMs }, count);
    this.addAfter(key, delay);
    return delay;
  }

  /**
   * The key succeeded (or is gone): its next failure starts from the base delay again. Returns
   * the reconcile lag: how long since the change it took in was first seen (retries included).
   */
  forget(key: string): number | undefined {
    this.failures.delete(key);
    const changed = this.takenChangedAt.get(key);
    this.takenChangedAt.delete(key);
    return changed === undefined ? undefined : this.clock.now() - changed;
  }

  /** The next key to work on; resolves undefined once the queue shuts down. */
  next(): Promise<string | undefined> {
    // A replica that lost the lease must stop at once: what is still queued is the new leader's.
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.take(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A worker finished the key (whatever the outcome). */
  done(key: string): void {
    this.processing.delete(key);
    this.takenChangedAt.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Hands the key to a worker, with the time its change was seen. */
  private take(key: string): void {
    this.queued.delete(key);
    this.processing.add(key);
    const changed = this.changedAt.get(key);
    this.changedAt.delete(key);
    if (changed !== undefined) this.takenChangedAt.set(key, changed);
  }

  /** Stops handing out keys: waiting workers get undefined; pending retries are dropped. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }
}
