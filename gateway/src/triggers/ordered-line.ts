import type { Clock } from '@nimbus/api';
import { type BusMessage, retryDelay } from '@nimbus/bus';

/** The trigger's rules for attempts, as its spec gives them. */
export interface AttemptPolicy {
  readonly maxDeliver: number;
  readonly backoffMs: readonly number[];
}

/** Why a line stopped delivering: the rest of its window is left to the ack wait and comes again. */
export type LineBreak = 'ack-failed' | 'out-of-order' | 'failed' | 'closed';

export interface OrderedLineDeps {
  readonly policy: AttemptPolicy;
  readonly clock: Clock;
  /**
   * Runs one attempt, settling `message` as the trigger worker settles any delivery: `ack()` after
   * a 2xx, `nak(delay?)` for another attempt, `term()` once dead-lettered.
   */
  readonly attempt: (message: BusMessage) => Promise<void>;
  /** The line broke; told once. */
  readonly broke: (why: LineBreak) => void;
  /**
   * Deliveries that were out when the line started: JetStream gives them first, but in the order
   * their ack waits ran out rather than stream order, so the line sorts this many before it starts.
   */
  readonly redeliveries?: number;
  /**
   * Settled events acked together (default 1): all but the last with `ackLater()`, the last with
   * `ack()`, whose reply vouches for the batch. A message without `ackLater()` is acked alone.
   */
  readonly ackEvery?: number;
}

/** How long the line waits for the redeliveries it expects before it sorts what came. */
const SORT_WAIT_MS = 100;
/**
 * The longest a settled event waits for the rest of its batch, so a slow call behind it does not
 * hold its ack back (toward the ack wait, and toward a longer tail to repeat after a crash).
 */
const ACK_DELAY_MS = 20;

/** How an attempt asked its message to be settled. */
type Verdict =
  | { readonly kind: 'ack' }
  | { readonly kind: 'retry'; readonly delayMs: number }
  | { readonly kind: 'end' };

/**
 * Delivers the window of one ordered trigger strictly one event after another, in the order the
 * bus hands them over (stream order: this gateway is the only one pulling). A failing event is
 * retried here, in place, after the trigger's backoff, while the events behind it wait: JetStream
 * never sees a nak, so it never hands a later event out first. After `maxDeliver` attempts (counted
 * from the delivery count the bus gives, so attempts before a crash count too) it is dead-lettered
 * and the line moves on.
 *
 * Anything that could let an event overtake another breaks the line for good: an ack that did not
 * land (the event comes again, after those behind it would have run), an event older than one
 * already delivered, the lease lost. A broken line settles nothing more; what it holds runs down
 * its ack wait and comes back in stream order to the next line, which starts only once it has.
 */
export class OrderedLine {
  private tail: Promise<void> = Promise.resolve();
  /** The last ack sent: the next goes out once it lands. */
  private acked: Promise<void> = Promise.resolve();
  /** The acks before the last: the next event's call waits for them, so calls run at most one ack ahead. */
  private olderAcks: Promise<void> = Promise.resolve();
  private lastSeq = 0;
  private broken: LineBreak | undefined;
  private draining = false;
  /** Told when the line breaks (an attempt in progress is left) and when it drains (a backoff wait ends). */
  private readonly onBreak = new Set<() => void>();
  private readonly onStop = new Set<() => void>();
  /** The first arrivals, held back to be sorted; undefined once the line runs in arrival order. */
  private sorting: { message: BusMessage; turn: (tail: Promise<void>) => Promise<void> }[] | undefined;
  private sortTimer: unknown;
  /** Settled events whose ack has not gone out yet, oldest first. */
  private batch: BusMessage[] = [];
  private batchTimer: unknown;
  /** Resolves once the batch being gathered has been acked (landed or failed) or dropped. */
  private batchDone: { promise: Promise<void>; resolve: () => void } | undefined;
  /** What each settled event's handler waits for: its batch's ack. */
  private readonly acking = new WeakMap<BusMessage, Promise<void>>();
  /** Events handed over and not yet through the line: none means nothing more to batch with now. */
  private inHand = 0;

  constructor(private readonly deps: OrderedLineDeps) {
    if ((deps.redeliveries ?? 0) > 0) this.sorting = [];
  }

  /**
   * The bus's handler: queues `message` behind those before it and resolves once its ack has landed
   * or failed, or it is left.
   */
  readonly handle = (message: BusMessage): Promise<void> => {
    const sorting = this.sorting;
    if (sorting !== undefined) {
      return new Promise<void>((resolve) => {
        sorting.push({ message, turn: (tail) => this.enqueue(message, tail).then(resolve) });
        if (sorting.length >= (this.deps.redeliveries ?? 0)) this.sorted();
        else if (sorting.length === 1)
          this.sortTimer = this.deps.clock.setTimeout(() => this.sorted(), SORT_WAIT_MS);
      });
    }
    return this.enqueue(message, this.tail);
  };

  /** The expected redeliveries came (or the wait is over): into the line in stream order. */
  private sorted(): void {
    const held = this.sorting ?? [];
    this.sorting = undefined;
    this.deps.clock.clearTimeout(this.sortTimer);
    held.sort((a, b) => a.message.streamSeq - b.message.streamSeq);
    for (const { turn } of held) turn(this.tail);
  }

  private enqueue(message: BusMessage, after: Promise<void>): Promise<void> {
    if (message.streamSeq <= this.lastSeq) this.break('out-of-order');
    else this.lastSeq = message.streamSeq;
    this.inHand++;
    const turn = after
      .then(() => this.deliver(message))
      .finally(() => {
        // Nothing more in hand: the window may be all settled, and the bus sends more once acked.
        if (--this.inHand === 0) this.flush();
      });
    this.tail = turn;
    // The handler runs on until the event's ack is out: while it runs the bus reports progress, so
    // the ack wait (as short as the first backoff step) does not run out on an event held for its batch.
    return turn.then(() => this.acking.get(message));
  }

  get open(): boolean {
    return this.broken === undefined && !this.draining;
  }

  /** Sends the acks still held, and resolves once every ack sent has landed or failed. */
  acks(): Promise<void> {
    this.flush();
    return this.acked;
  }

  /** Starts nothing more; the attempt in progress finishes and is settled. */
  drain(): void {
    this.draining = true;
    this.tell(this.onStop);
  }

  /** Settles nothing more, not even the attempt in progress (the lease is gone: another gateway may deliver). */
  close(): void {
    this.break('closed');
  }

  private break(why: LineBreak): void {
    if (this.broken !== undefined) return;
    this.broken = why;
    // What it holds is left to come again, like everything after it.
    this.deps.clock.clearTimeout(this.batchTimer);
    this.batch = [];
    this.batchDone?.resolve();
    this.batchDone = undefined;
    this.tell(this.onBreak);
    this.tell(this.onStop);
    this.deps.broke(why);
  }

  private tell(waiters: Set<() => void>): void {
    for (const wake of waiters) wake();
    waiters.clear();
  }

  private async deliver(message: BusMessage): Promise<void> {
    const { maxDeliver, backoffMs } = this.deps.policy;
    if (!(await this.until(this.olderAcks, this.onBreak))) return;
    for (let attempt = message.deliveryCount; this.open; attempt++) {
      let verdict: Verdict | undefined;
      const view: BusMessage = {
        ...message,
        deliveryCount: attempt,
        lastAttempt: attempt >= maxDeliver,
        ack: async () => {
          verdict = { kind: 'ack' };
          if (this.broken !== undefined)
            throw new Error('the ordered line is closed: the event is left to come again');
          this.settle(message);
        },
        nak: (delayMs) => {
          verdict = { kind: 'retry', delayMs: delayMs ?? retryDelay(backoffMs, attempt) };
        },
        term: () => {
          verdict = { kind: 'end' };
        },
      };
      const done = this.deps.attempt(view).then(
        () => true,
        () => false,
      );
      if (!(await this.until(done, this.onBreak))) return;
      if (!(await done)) {
        // The line closed before the ack, or the attempt failed in a way that settled nothing.
        this.break('failed');
        return;
      }
      if (verdict === undefined) {
        this.break('failed');
        return;
      }
      if (verdict.kind === 'ack') return;
      if (verdict.kind === 'end') {
        // Dead-lettered: an ack rather than a term, because only an ack says it landed.
        this.settle(message);
        return;
      }
      if (!(await this.until(this.pause(verdict.delayMs), this.onStop))) return;
    }
  }

  /**
   * Holds `message`'s ack for its batch: sent once `ackEvery` events are settled, when the line has
   * nothing more in hand, or ACK_DELAY_MS after the first of them, whichever comes first.
   */
  private settle(message: BusMessage): void {
    this.batch.push(message);
    this.batchDone ??= deferred();
    this.acking.set(message, this.batchDone.promise);
    const every = message.ackLater === undefined ? 1 : (this.deps.ackEvery ?? 1);
    if (this.batch.length >= every) this.flush();
    else if (this.batch.length === 1)
      this.batchTimer = this.deps.clock.setTimeout(() => this.flush(), ACK_DELAY_MS);
  }

  /**
   * Acks the batch once the batch before it has landed, without holding up the next event's call:
   * the round trip overlaps that call (the one after waits for it). All but the last go out with
   * `ackLater()` and the last with `ack()`, which resolves only if they all landed; batches go out
   * one at a time, in order, so one that fails stops every later one (the line breaks): the events
   * from it on may come again, in order, and the calls already made after it are repeated under
   * the same ce-ids.
   */
  private flush(): void {
    this.deps.clock.clearTimeout(this.batchTimer);
    const batch = this.batch;
    const done = this.batchDone;
    this.batch = [];
    this.batchDone = undefined;
    const last = batch.at(-1);
    if (last === undefined) {
      done?.resolve();
      return;
    }
    this.olderAcks = this.acked;
    const acked = this.acked.then(() => {
      if (this.broken !== undefined) throw new Error('the ordered line broke before this ack');
      for (const earlier of batch.slice(0, -1)) earlier.ackLater?.();
      return last.ack();
    });
    this.acked = acked.catch(() => this.break('ack-failed'));
    void this.acked.then(() => done?.resolve());
  }

  /** Waits for `work` unless `stop` is told first; true when the line may go on. */
  private async until(work: Promise<unknown>, stop: Set<() => void>): Promise<boolean> {
    if (this.broken !== undefined || (this.draining && stop === this.onStop)) return false;
    let wake: () => void = () => {};
    const stopped = new Promise<false>((resolve) => {
      wake = () => resolve(false);
      stop.add(wake);
    });
    try {
      const finished = await Promise.race([work.then(() => true), stopped]);
      return finished && this.broken === undefined;
    } finally {
      stop.delete(wake);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.deps.clock.setTimeout(resolve, ms);
    });
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
