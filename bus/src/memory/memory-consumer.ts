import type { Clock } from '@nimbus/api';
import type { ConsumerInfo, ResolvedConsumerConfig } from '../consumers.js';
import { retryDelay } from '../retry-delay.js';
import { subjectMatches } from '../subjects.js';
import type { MemoryStream, StoredMessage } from './memory-stream.js';

/** A message delivered and not yet acknowledged: with a subscriber (`out`) or waiting to go again. */
interface Outstanding {
  count: number;
  out: boolean;
  timer: unknown;
}

export interface Handout {
  readonly message: StoredMessage;
  readonly count: number;
}

/**
 * A durable consumer's position and its unacknowledged deliveries, with JetStream's rules:
 * redeliveries go before new messages, new ones stop at maxAckPending, a delivery nobody settles
 * within its ack wait (the backoff step for that delivery, when there is a backoff list) goes again,
 * and after maxDeliver deliveries a message is not sent again.
 */
export class MemoryConsumer {
  private cursor: number;
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly due = new Set<number>();

  constructor(
    public config: ResolvedConsumerConfig,
    private readonly stream: MemoryStream,
    private readonly clock: Clock,
    /** Called when a message becomes due again, so the bus can hand it out. */
    private readonly wake: () => void,
  ) {
    this.cursor = config.deliverPolicy === 'new' ? stream.last + 1 : 1;
  }

  wants(subject: string): boolean {
    return this.config.filterSubject === undefined || subjectMatches(this.config.filterSubject, subject);
  }

  /** Whether the message at `seq` still waits for this consumer (to be delivered or acknowledged). */
  owes(seq: number, subject: string): boolean {
    return this.outstanding.has(seq) || (seq >= this.cursor && this.wants(subject));
  }

  next(): Handout | undefined {
    for (const seq of [...this.due].sort((a, b) => a - b)) {
      this.due.delete(seq);
      const message = this.stream.messages.get(seq);
      if (message !== undefined) return this.handOut(message);
      this.outstanding.delete(seq); // aged out of the stream while it waited
    }
    if (this.outstanding.size >= this.config.maxAckPending) return undefined;
    for (const [seq, message] of this.stream.messages) {
      if (seq < this.cursor || !this.wants(message.subject)) continue;
      this.cursor = seq + 1;
      return this.handOut(message);
    }
    this.cursor = this.stream.last + 1;
    return undefined;
  }

  /** Ack and term alike: the message is done for this consumer, whichever delivery settles it. */
  finish(seq: number): void {
    const entry = this.outstanding.get(seq);
    if (entry === undefined) return;
    this.clock.clearTimeout(entry.timer);
    this.outstanding.delete(seq);
  }

  nak(seq: number, count: number, delayMs: number): void {
    const entry = this.current(seq, count);
    if (entry === undefined) return;
    this.clock.clearTimeout(entry.timer);
    entry.out = false;
    if (this.exhausted(count)) {
      this.outstanding.delete(seq);
      return;
    }
    if (delayMs <= 0) {
      this.makeDue(seq);
      return;
    }
    entry.timer = this.clock.setTimeout(() => this.makeDue(seq), delayMs);
  }

  working(seq: number, count: number): void {
    const entry = this.current(seq, count);
    if (entry === undefined) return;
    this.clock.clearTimeout(entry.timer);
    entry.timer = this.startAckWait(seq, count);
  }

  info(): ConsumerInfo {
    let pending = 0;
    for (const [seq, message] of this.stream.messages) {
      if (seq >= this.cursor && this.wants(message.subject)) pending++;
    }
    return { config: this.config, pending, ackPending: this.outstanding.size };
  }

  dispose(): void {
    for (const entry of this.outstanding.values()) this.clock.clearTimeout(entry.timer);
    this.outstanding.clear();
    this.due.clear();
  }

  private handOut(message: StoredMessage): Handout {
    const entry = this.outstanding.get(message.seq) ?? { count: 0, out: false, timer: undefined };
    entry.count++;
    entry.out = true;
    entry.timer = this.startAckWait(message.seq, entry.count);
    this.outstanding.set(message.seq, entry);
    return { message, count: entry.count };
  }

  private startAckWait(seq: number, count: number): unknown {
    const { backoffMs, ackWaitMs } = this.config;
    const wait = backoffMs.length > 0 ? retryDelay(backoffMs, count) : ackWaitMs;
    return this.clock.setTimeout(() => {
      const entry = this.current(seq, count);
      if (entry === undefined) return;
      entry.out = false;
      if (this.exhausted(count)) this.outstanding.delete(seq);
      else this.makeDue(seq);
    }, wait);
  }

  /** The entry for `seq` if delivery `count` is the one out now; a stale delivery's nak or progress counts for nothing. */
  private current(seq: number, count: number): Outstanding | undefined {
    const entry = this.outstanding.get(seq);
    return entry?.out && entry.count === count ? entry : undefined;
  }

  private exhausted(count: number): boolean {
    return this.config.maxDeliver !== undefined && count >= this.config.maxDeliver;
  }

  private makeDue(seq: number): void {
    if (!this.outstanding.has(seq)) return;
    this.due.add(seq);
    this.wake();
  }
}
