import { type Clock, systemClock } from '@nimbus/api';
import {
  type ConsumerConfig,
  type ConsumerInfo,
  consumerChanges,
  resolveConsumerConfig,
} from '../consumers.js';
import { type Delivery, runDelivery } from '../delivery.js';
import { BusConfigError, BusUnavailableError } from '../errors.js';
import { MSG_ID_HEADER, checkHeaders } from '../headers.js';
import type {
  ConsumeOptions,
  MessageBus,
  MessageHandler,
  PublishAck,
  PublishOptions,
  Subscription,
} from '../message-bus.js';
import { checkName } from '../names.js';
import { type StreamConfig, type StreamState, resolveStreamConfig, streamChanges } from '../streams.js';
import { checkSubject, subjectMatches, subjectsOverlap } from '../subjects.js';
import { type Handout, MemoryConsumer } from './memory-consumer.js';
import { MemoryStream } from './memory-stream.js';

interface StreamEntry {
  readonly stream: MemoryStream;
  readonly consumers: Map<string, MemoryConsumer>;
}

class MemorySubscription {
  running = 0;
  stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly handler: MessageHandler,
    readonly concurrency: number,
    readonly onError: (error: Error) => void,
  ) {}

  get free(): boolean {
    return !this.stopped && this.running < this.concurrency;
  }

  done(): void {
    this.running--;
    if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

export interface MemoryBusOptions {
  clock?: Clock;
}

/**
 * The message bus in one process, for local mode: the same streams, durables, work sharing,
 * fan-out, ack waits, backoff, maxDeliver and deduplication as JetStream (one contract suite runs
 * against both), on an injectable clock. Nothing survives the process.
 */
export class MemoryBus implements MessageBus {
  private readonly clock: Clock;
  private readonly streams = new Map<string, StreamEntry>();
  /** By `stream/consumer`: a subscription outlives its consumer's deletion and picks up a new one of that name. */
  private readonly subscriptions = new Map<string, MemorySubscription[]>();
  private readonly turns = new Map<string, number>();
  /** Set by close(): nothing new is taken, while handlers in progress may still settle. */
  private closing = false;
  private closed = false;

  constructor(options: MemoryBusOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishAck> {
    this.assertOpen();
    checkSubject(subject, 'subject', false);
    checkHeaders(options.headers ?? {});
    const entry = [...this.streams.values()].find((e) =>
      e.stream.config.subjects.some((pattern) => subjectMatches(pattern, subject)),
    );
    if (entry === undefined) throw new BusUnavailableError(`no stream takes subject ${subject}`, 'no-stream');
    const { stream } = entry;
    const now = this.clock.now();
    stream.expire(now);
    const { msgId } = options;
    const earlier = stream.duplicateOf(msgId);
    if (earlier !== undefined) return { stream: stream.config.name, seq: earlier, duplicate: true };
    const headers =
      msgId === undefined ? { ...options.headers } : { ...options.headers, [MSG_ID_HEADER]: msgId };
    const keep =
      stream.config.retention !== 'interest' || [...entry.consumers.values()].some((c) => c.wants(subject));
    const seq = stream.append({ subject, data: data.slice(), headers, timestamp: now }, msgId, keep);
    for (const name of entry.consumers.keys()) this.pump(stream.config.name, name);
    return { stream: stream.config.name, seq, duplicate: false };
  }

  consume(
    stream: string,
    consumer: string,
    handler: MessageHandler,
    options: ConsumeOptions = {},
  ): Subscription {
    this.assertOpen();
    checkName(stream, 'stream name');
    checkName(consumer, 'consumer name');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new BusConfigError(`concurrency must be a whole number of at least 1, not ${concurrency}`);
    const subscription = new MemorySubscription(handler, concurrency, options.onError ?? (() => {}));
    const key = `${stream}/${consumer}`;
    this.subscriptions.set(key, [...(this.subscriptions.get(key) ?? []), subscription]);
    this.pump(stream, consumer);
    return {
      stop: async () => {
        subscription.stopped = true;
        const rest = (this.subscriptions.get(key) ?? []).filter((s) => s !== subscription);
        if (rest.length > 0) this.subscriptions.set(key, rest);
        else this.subscriptions.delete(key);
        await subscription.idle();
      },
    };
  }

  async ensureStream(config: StreamConfig): Promise<void> {
    this.assertOpen();
    const desired = resolveStreamConfig(config);
    for (const other of this.streams.values()) {
      if (other.stream.config.name === desired.name) continue;
      for (const mine of desired.subjects) {
        const clash = other.stream.config.subjects.find((theirs) => subjectsOverlap(mine, theirs));
        if (clash !== undefined)
          throw new BusConfigError(
            `subject "${mine}" of stream ${desired.name} overlaps "${clash}" of stream ${other.stream.config.name}`,
          );
      }
    }
    const existing = this.streams.get(desired.name);
    if (existing === undefined) {
      this.streams.set(desired.name, { stream: new MemoryStream(desired), consumers: new Map() });
      return;
    }
    if (streamChanges(desired, existing.stream.config).length > 0) existing.stream.config = desired;
  }

  async deleteStream(name: string): Promise<boolean> {
    this.assertOpen();
    const entry = this.streams.get(name);
    if (entry === undefined) return false;
    for (const consumer of entry.consumers.values()) consumer.dispose();
    this.streams.delete(name);
    return true;
  }

  async ensureConsumer(config: ConsumerConfig): Promise<ConsumerInfo> {
    this.assertOpen();
    const desired = resolveConsumerConfig(config);
    const entry = this.streams.get(desired.stream);
    if (entry === undefined) throw new BusConfigError(`stream ${desired.stream} does not exist`);
    const existing = entry.consumers.get(desired.name);
    if (existing === undefined) {
      this.checkWorkQueue(entry, desired.name, desired.filterSubject);
      const consumer = new MemoryConsumer(desired, entry.stream, this.clock, () =>
        this.pump(desired.stream, desired.name),
      );
      entry.consumers.set(desired.name, consumer);
      this.pump(desired.stream, desired.name);
      return consumer.info();
    }
    if (consumerChanges(desired, existing.config).length > 0) {
      this.checkWorkQueue(entry, desired.name, desired.filterSubject);
      existing.config = { ...desired, deliverPolicy: existing.config.deliverPolicy };
      this.pump(desired.stream, desired.name);
    }
    return existing.info();
  }

  async deleteConsumer(stream: string, name: string): Promise<boolean> {
    this.assertOpen();
    const entry = this.streams.get(stream);
    const consumer = entry?.consumers.get(name);
    if (entry === undefined || consumer === undefined) return false;
    consumer.dispose();
    entry.consumers.delete(name);
    return true;
  }

  async consumerInfo(stream: string, name: string): Promise<ConsumerInfo | undefined> {
    this.assertOpen();
    return this.streams.get(stream)?.consumers.get(name)?.info();
  }

  async listConsumers(stream: string): Promise<ConsumerInfo[]> {
    this.assertOpen();
    return [...(this.streams.get(stream)?.consumers.values() ?? [])].map((c) => c.info());
  }

  async streamState(name: string): Promise<StreamState | undefined> {
    this.assertOpen();
    const entry = this.streams.get(name);
    if (entry === undefined) return undefined;
    const bySubject = new Map<string, number>();
    let oldestTimestamp: number | undefined;
    for (const message of entry.stream.messages.values()) {
      bySubject.set(message.subject, (bySubject.get(message.subject) ?? 0) + 1);
      // In sequence order: the first is the oldest.
      oldestTimestamp ??= message.timestamp;
    }
    return { messages: entry.stream.messages.size, oldestTimestamp, bySubject };
  }

  get reachable(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const all = [...this.subscriptions.values()].flat();
    this.subscriptions.clear();
    for (const subscription of all) subscription.stopped = true;
    await Promise.all(all.map((s) => s.idle()));
    for (const entry of this.streams.values())
      for (const consumer of entry.consumers.values()) consumer.dispose();
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closing) throw new BusUnavailableError('the bus is closed', 'closed');
  }

  /** JetStream lets a work-queue stream have only consumers whose filters do not overlap. */
  private checkWorkQueue(entry: StreamEntry, name: string, filter: string | undefined): void {
    if (entry.stream.config.retention !== 'workqueue') return;
    for (const other of entry.consumers.values()) {
      if (other.config.name === name) continue;
      const theirs = other.config.filterSubject ?? '>';
      if (subjectsOverlap(filter ?? '>', theirs))
        throw new BusConfigError(
          `work-queue stream ${entry.stream.config.name} already has consumer ${other.config.name} on "${theirs}"`,
        );
    }
  }

  /** Hands out due and new messages to free subscribers, taking them in turn. */
  private pump(streamName: string, consumerName: string): void {
    const entry = this.streams.get(streamName);
    const consumer = entry?.consumers.get(consumerName);
    const key = `${streamName}/${consumerName}`;
    const subscribers = this.subscriptions.get(key) ?? [];
    if (entry === undefined || consumer === undefined || subscribers.length === 0) return;
    entry.stream.expire(this.clock.now());
    for (;;) {
      const turn = this.turns.get(key) ?? 0;
      const order = subscribers.map((_, i) => subscribers[(turn + i) % subscribers.length]);
      const subscriber = order.find((s) => s?.free === true);
      if (subscriber === undefined) return;
      const handout = consumer.next();
      if (handout === undefined) return;
      this.turns.set(key, (subscribers.indexOf(subscriber) + 1) % subscribers.length);
      this.start(entry, consumer, subscriber, handout);
    }
  }

  private start(
    entry: StreamEntry,
    consumer: MemoryConsumer,
    subscriber: MemorySubscription,
    handout: Handout,
  ) {
    const { message, count } = handout;
    const { seq } = message;
    const finish = () => {
      consumer.finish(seq);
      this.dropIfDone(entry, seq, message.subject);
      this.pump(entry.stream.config.name, consumer.config.name);
    };
    const delivery: Delivery = {
      subject: message.subject,
      stream: entry.stream.config.name,
      streamSeq: seq,
      data: message.data.slice(),
      headers: message.headers,
      deliveryCount: count,
      timestamp: message.timestamp,
      ack: async () => {
        if (this.closed) throw new BusUnavailableError('the bus is closed', 'closed');
        finish();
      },
      // Nothing is lost in memory: a closed bus drops it, and the next ack() rejects.
      ackLater: () => {
        if (!this.closed) finish();
      },
      nak: (delayMs) => consumer.nak(seq, count, delayMs),
      term: () => finish(),
      working: () => consumer.working(seq, count),
    };
    subscriber.running++;
    // Never run a handler inside pump: its synchronous settle would re-enter it.
    queueMicrotask(() => {
      runDelivery(delivery, consumer.config, subscriber.handler, this.clock, subscriber.onError).finally(
        () => {
          subscriber.done();
          this.pump(entry.stream.config.name, consumer.config.name);
        },
      );
    });
  }

  /** Work-queue and interest streams let a message go once nobody needs it any more. */
  private dropIfDone(entry: StreamEntry, seq: number, subject: string): void {
    const { retention } = entry.stream.config;
    if (retention === 'limits') return;
    if (retention === 'interest' && [...entry.consumers.values()].some((c) => c.owes(seq, subject))) return;
    entry.stream.messages.delete(seq);
  }
}
