import type { ConsumerConfig, ConsumerInfo } from './consumers.js';
import type { Headers } from './headers.js';
import type { StreamConfig, StreamState } from './streams.js';

export interface PublishOptions {
  /** Dedup id (sent as `Nats-Msg-Id`): a second publish with it inside the stream's window stores nothing. */
  readonly msgId?: string;
  readonly headers?: Headers;
}

/** The stream's receipt: the message is stored (persisted, for a file stream). */
export interface PublishAck {
  readonly stream: string;
  readonly seq: number;
  /** An earlier message had the same id inside the window; `seq` is that message's and nothing new was stored. */
  readonly duplicate: boolean;
}

/** One delivery of a stored message to one subscriber. The first of ack, nak and term counts; later calls are ignored. */
export interface BusMessage {
  /** The publisher's `msgId` when it gave one, else `<stream>:<seq>`. */
  readonly id: string;
  readonly subject: string;
  readonly stream: string;
  readonly streamSeq: number;
  readonly data: Uint8Array;
  readonly headers: Headers;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** When the stream stored it (epoch ms). */
  readonly timestamp: number;
  /** The consumer's maxDeliver is reached: after a failure here, dead-letter it and `term()`; it will not come again. */
  readonly lastAttempt: boolean;
  /** Done with it. Resolves once the server has recorded the ack; rejects with BusUnavailableError otherwise (it will come again). */
  ack(): Promise<void>;
  /**
   * Done with it, without waiting to hear that the server recorded it: the ack goes out and
   * nothing comes back. A subscription's acks land in the order they were sent, so once a later
   * `ack()` of the same subscription resolves, every `ackLater()` before it has landed too; that
   * `ack()` rejects if one of them may have been lost (the connection dropped in between). For a
   * caller that settles in order (an ordered trigger's line), this is one reply per batch of acks
   * instead of one per message. Both buses give it; a message made by hand may leave it out.
   */
  ackLater?(): void;
  /** Failed; redeliver after `delayMs`, by default the consumer's backoff step for this delivery (at once without one). */
  nak(delayMs?: number): void;
  /**
   * Never redeliver (for a message that can never succeed, or one already dead-lettered). No reason
   * is sent: NATS before 2.10 does not read `+TERM <reason>` as a term and would redeliver.
   */
  term(): void;
  /** Still at it: restarts the ack wait. The bus does this itself while the handler's promise is pending. */
  working(): void;
}

/**
 * Called once per delivery. While its promise is pending the bus keeps the delivery in progress.
 * If it throws, the message is nak'd with the consumer's backoff (on the last attempt that ends
 * it, so dead-letter before throwing). If it returns without ack, nak or term, the message is
 * left to the ack wait (as if the worker had died).
 */
export type MessageHandler = (message: BusMessage) => Promise<void> | void;

export interface ConsumeOptions {
  /** Handlers running at once in this subscription; default 1. The consumer's maxAckPending bounds all subscribers together. */
  readonly concurrency?: number;
  /** Told about a handler that threw, or a consumer the subscription cannot reach (it keeps trying). */
  readonly onError?: (error: Error) => void;
}

export interface Subscription {
  /** Takes no more messages and resolves once the handlers in progress have finished. */
  stop(): Promise<void>;
}

/**
 * Durable messages: streams store what is published to their subjects, durable consumers hand
 * each stored message to one of their subscribers until it is acknowledged.
 */
export interface MessageBus {
  /** Stores a message in the stream that takes `subject`; BusUnavailableError when it cannot within the bound. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PublishAck>;
  /**
   * Subscribes `handler` to a durable consumer, which need not exist yet: the subscription waits for
   * it, and rides out disconnects and server restarts by itself.
   */
  consume(stream: string, consumer: string, handler: MessageHandler, options?: ConsumeOptions): Subscription;
  /** Creates the stream, or brings an existing one to `config`. */
  ensureStream(config: StreamConfig): Promise<void>;
  /** False when there was no such stream. Its consumers go with it. */
  deleteStream(name: string): Promise<boolean>;
  /** Creates the consumer, or converges an existing one's changeable fields to `config`. */
  ensureConsumer(config: ConsumerConfig): Promise<ConsumerInfo>;
  /** False when there was no such consumer. */
  deleteConsumer(stream: string, name: string): Promise<boolean>;
  consumerInfo(stream: string, name: string): Promise<ConsumerInfo | undefined>;
  listConsumers(stream: string): Promise<ConsumerInfo[]>;
  /** What the stream holds now (undefined when there is no such stream): for the queue metrics. */
  streamState(name: string): Promise<StreamState | undefined>;
  /** False while the connection to the server is down; the memory bus has none to lose. */
  readonly reachable: boolean;
  /** Stops every subscription (waiting for their handlers), then lets pending acks out and disconnects. */
  close(): Promise<void>;
}

/** What the controller needs: streams and consumers, no messages. */
export type BusAdmin = Pick<
  MessageBus,
  'ensureStream' | 'deleteStream' | 'ensureConsumer' | 'deleteConsumer' | 'consumerInfo' | 'listConsumers'
>;

/** What a function's `ctx.publish` needs. */
export type BusPublisher = Pick<MessageBus, 'publish'>;
