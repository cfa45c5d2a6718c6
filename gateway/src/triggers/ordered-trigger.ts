import { type Clock, type Logger, sleep } from '@nimbus/api';
import type { BusMessage, MessageBus, Subscription } from '@nimbus/bus';
import { type AttemptPolicy, type LineBreak, OrderedLine } from './ordered-line.js';

/** The lease that makes one gateway the only one delivering an ordered trigger. */
export interface OrderLeases {
  claim(key: string, owner: string, ttlMs: number): Promise<boolean>;
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  release(key: string, owner: string): Promise<boolean>;
}

export interface OrderedTriggerDeps {
  readonly stream: string;
  readonly consumer: string;
  readonly policy: AttemptPolicy;
  /** The longest a delivery held and then left can stay out before JetStream gives it again. */
  readonly ackDeadlineMs: number;
  /** Events fetched ahead and held in line; the durable's maxAckPending. */
  readonly window: number;
  readonly bus: () => Promise<MessageBus | undefined>;
  readonly leases: OrderLeases;
  /** This gateway, as the lease holder. */
  readonly owner: string;
  readonly leaseMs: number;
  readonly clock: Clock;
  /** One attempt of one event, settled as the trigger worker settles any delivery. */
  readonly attempt: (message: BusMessage) => Promise<void>;
  readonly log: Logger;
}

/**
 * Renewals stop counting this long before the lease runs out, so a gateway stops delivering
 * before another can claim it, even with the two clocks a little apart.
 */
const LEASE_MARGIN_MS = 3_000;
/** After the ack deadline, how long JetStream may take to notice and queue the redeliveries. */
const FENCE_MARGIN_MS = 1_000;
const FENCE_POLL_MS = 250;
/**
 * The share of the window acked together. Each ack frees a slot of the durable's maxAckPending,
 * and JetStream sends the next event at once: acked one by one, every event cost the gateway an
 * ack's reply and a delivery of its own; acked in batches, a quarter of the window at a time, the
 * replies are one per batch and the events come in bursts, while three quarters stay in hand.
 */
const ACK_BATCHES_PER_WINDOW = 4;

/**
 * One ordered trigger (a source trigger with `concurrency: 1`) in this gateway. Only the holder of
 * the trigger's lease pulls from its durable, a window of events at once, delivered by an
 * OrderedLine one after another; the others wait to claim the lease. The holder stops delivering
 * (and settles nothing more) before its lease can lapse, so two gateways never deliver at once.
 *
 * Whoever starts a line first waits out the fence: until the durable has nothing out, or until
 * everything a previous line (here or in a gateway that died) held has passed its ack deadline.
 * JetStream then gives those first, in stream order, before anything newer: without the wait a
 * new line could be handed a later event while an earlier one was still out.
 */
export class OrderedTrigger {
  private held = false;
  private expiry: unknown;
  private line: OrderedLine | undefined;
  private subscription: Subscription | undefined;
  /** Starts and stops of lines, one after another. */
  private chain: Promise<void> = Promise.resolve();
  private starting = false;
  /** Bumped whenever what is under way should give up. */
  private generation = 0;
  private stopped = false;

  constructor(private readonly deps: OrderedTriggerDeps) {}

  private get leaseKey(): string {
    return `ordered-trigger:${this.deps.stream}/${this.deps.consumer}`;
  }

  /** One pass of the trigger worker: claims or renews the lease, and delivers while it is held. */
  async pass(): Promise<void> {
    if (this.stopped) return;
    const { leases, owner, leaseMs, clock } = this.deps;
    const askedAt = clock.now();
    let held: boolean;
    try {
      held = this.held
        ? await leases.renew(this.leaseKey, owner, leaseMs)
        : await leases.claim(this.leaseKey, owner, leaseMs);
    } catch (err) {
      this.deps.log.warn('could not claim or renew the lease of an ordered trigger', {
        consumer: this.deps.consumer,
        err,
      });
      held = false;
    }
    if (this.stopped) return;
    if (!held) {
      if (this.held) this.lose();
      return;
    }
    const claimed = !this.held;
    this.held = true;
    clock.clearTimeout(this.expiry);
    this.expiry = clock.setTimeout(
      () => this.lose(),
      Math.max(0, askedAt + leaseMs - LEASE_MARGIN_MS - clock.now()),
    );
    if (claimed) this.deps.log.info('delivering an ordered trigger here', { consumer: this.deps.consumer });
    if (claimed || (this.subscription === undefined && !this.starting)) this.restart(undefined, askedAt);
  }

  /** Stops delivering: the attempt in progress is settled, the rest come again; the lease is released. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    this.deps.clock.clearTimeout(this.expiry);
    const line = this.line;
    line?.drain();
    const subscription = this.subscription;
    this.subscription = undefined;
    await this.chain;
    await subscription?.stop();
    await line?.acks();
    if (this.held) await this.deps.leases.release(this.leaseKey, this.deps.owner).catch(() => false);
    this.held = false;
  }

  /** The lease is gone or about to be: settle nothing more, let go of the window. */
  private lose(): void {
    if (!this.held) return;
    this.held = false;
    this.deps.clock.clearTimeout(this.expiry);
    this.deps.log.warn('lost the lease of an ordered trigger; delivering it no more here', {
      consumer: this.deps.consumer,
    });
    this.line?.close();
    this.restart(undefined);
  }

  private broke(line: OrderedLine, why: LineBreak): void {
    if (line !== this.line || why === 'closed') return;
    this.deps.log.warn('ordered delivery stopped; what it held comes again, in order', {
      consumer: this.deps.consumer,
      why,
    });
    this.restart(line);
  }

  /**
   * Ends the current line (if `from` is it, or whatever runs when undefined) and, while the lease
   * is held, starts another after the fence, measured from `fenceFrom` or from when the old line's
   * handlers have all let go.
   */
  private restart(from: OrderedLine | undefined, fenceFrom?: number): void {
    if (from !== undefined && from !== this.line) return;
    const generation = ++this.generation;
    const subscription = this.subscription;
    this.subscription = undefined;
    this.line = undefined;
    this.starting = true;
    this.chain = this.chain
      .then(async () => {
        await subscription?.stop();
        if (!this.current(generation)) return;
        const out = await this.fence(generation, fenceFrom ?? this.deps.clock.now());
        if (this.current(generation)) await this.begin(out);
      })
      .catch((err: unknown) =>
        this.deps.log.warn('could not start an ordered trigger; trying again', {
          consumer: this.deps.consumer,
          err,
        }),
      )
      .finally(() => {
        if (generation === this.generation) this.starting = false;
      });
  }

  private current(generation: number): boolean {
    return generation === this.generation && this.held && !this.stopped;
  }

  /**
   * Waits until the durable has nothing out, or whatever was out has passed its ack deadline;
   * resolves how many deliveries were still out (they come first, to the next line).
   */
  private async fence(generation: number, from: number): Promise<number> {
    const { clock, stream, consumer } = this.deps;
    const until = from + this.deps.ackDeadlineMs + FENCE_MARGIN_MS;
    while (this.current(generation)) {
      const bus = await this.deps.bus();
      // undefined: no such durable yet, so nothing of it is out; null: not known now.
      const info = bus === undefined ? null : await bus.consumerInfo(stream, consumer).catch(() => null);
      if (info === undefined || info?.ackPending === 0) return 0;
      const left = until - clock.now();
      if (left <= 0) return info?.ackPending ?? 0;
      await sleep(clock, Math.min(FENCE_POLL_MS, left));
    }
    return 0;
  }

  private async begin(redeliveries: number): Promise<void> {
    const bus = await this.deps.bus();
    if (bus === undefined) return;
    const { stream, consumer, window, policy, clock } = this.deps;
    const line: OrderedLine = new OrderedLine({
      policy,
      clock,
      attempt: this.deps.attempt,
      broke: (why) => this.broke(line, why),
      redeliveries,
      ackEvery: Math.max(1, Math.floor(window / ACK_BATCHES_PER_WINDOW)),
    });
    this.line = line;
    this.subscription = bus.consume(stream, consumer, line.handle, {
      concurrency: window,
      onError: (err) =>
        this.deps.log.warn('an ordered trigger subscription failed; it goes on', { consumer, err }),
    });
  }
}
