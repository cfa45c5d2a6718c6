import { systemClock } from '@nimbus/api';
import { type Consumer, ConsumerEvents, type ConsumerMessages, type JetStreamClient, type JsMsg } from 'nats';
import { DEFAULT_ACK_WAIT_MS, type ResolvedConsumerConfig } from '../consumers.js';
import { type Delivery, type DeliveryPolicy, runDelivery } from '../delivery.js';
import { BusUnavailableError } from '../errors.js';
import type { MessageHandler, Subscription } from '../message-bus.js';
import { reconnectDelay } from '../retry-delay.js';
import { Slots } from '../slots.js';
import { toBusError } from './errors.js';
import { fromNatsConsumer, fromNatsHeaders } from './translate.js';
import type { WriteTurn } from './write-turn.js';

export interface SubscriptionSettings {
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly consumer: string;
  readonly handler: MessageHandler;
  readonly concurrency: number;
  readonly onError: (error: Error) => void;
  readonly timeoutMs: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Whether the connection is up, so an ack can fail at once when it is not. */
  readonly connected: () => boolean;
  /** Connections lost so far: an ackLater() is vouched for only if none was lost since it went out. */
  readonly disconnects: () => number;
  /** The bus's turn: an ack waits for it, to leave in one write with the others of the turn. */
  readonly turn: WriteTurn;
}

/** An ackLater() went out while the connection was down (or could not go out at all). */
const LOST = -1;

/** How stale the consumer's maxDeliver and backoff may be when judging a delivery (another process may change them). */
const POLICY_TTL_MS = 1_000;

/**
 * Pulls from one durable consumer for as long as it is not stopped. nats.js's `consume()` re-pulls
 * after a reconnect or missed heartbeats and waits out a missing consumer; this loop adds getting
 * hold of the consumer in the first place (it may not exist yet, or NATS may be down), a bound on
 * handlers at once, and the consumer's delivery rules, re-read when stale.
 */
export class JetStreamSubscription implements Subscription {
  private stopped = false;
  private messages: ConsumerMessages | undefined;
  private interruptWait: (() => void) | undefined;
  private readonly slots: Slots;
  private policy: DeliveryPolicy | undefined;
  private policyReadAt = 0;
  private reading: Promise<void> | undefined;
  /**
   * The connection (as a count of those lost before it) on which the oldest ackLater() not yet
   * vouched for went out, or LOST; undefined when there is none.
   */
  private unvouched: number | undefined;
  private readonly loop: Promise<void>;

  constructor(private readonly settings: SubscriptionSettings) {
    this.slots = new Slots(settings.concurrency);
    this.loop = this.run();
  }

  /** The caller's error callback, which must not be able to end the pull loop by throwing. */
  private readonly report = (error: Error): void => {
    try {
      this.settings.onError(error);
    } catch {}
  };

  matches(stream: string, consumer: string): boolean {
    return stream === this.settings.stream && consumer === this.settings.consumer;
  }

  /** The bus changed the consumer: judge the next delivery by the new rules. */
  updatePolicy(config: ResolvedConsumerConfig): void {
    this.policy = config;
    this.policyReadAt = Date.now();
  }

  async stop(): Promise<void> {
    this.halt();
    await this.finished();
  }

  /** Takes no more messages from now on. */
  halt(): void {
    this.stopped = true;
    this.interruptWait?.();
    this.messages?.stop();
  }

  /** Resolves once the pull loop has ended and no handler is running. */
  async finished(): Promise<void> {
    await this.loop;
    await this.slots.idle();
  }

  private async run(): Promise<void> {
    const { js, stream, consumer: name } = this.settings;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const consumer = await js.consumers.get(stream, name);
        this.updatePolicy(fromNatsConsumer(await consumer.info(true)).config);
        attempt = 0;
        await this.pull(consumer);
      } catch (err) {
        if (!this.stopped)
          this.report(toBusError(err, `subscription to consumer ${stream}/${name}`, 'disconnected'));
      }
      const { retryMinMs, retryMaxMs } = this.settings;
      await this.wait(reconnectDelay(attempt, retryMinMs, retryMaxMs, Math.random()));
    }
  }

  private async pull(consumer: Consumer): Promise<void> {
    // Ask for no more than can be handled at once: whatever waits here runs down its ack wait.
    const messages = await consumer.consume({ max_messages: this.settings.concurrency });
    this.messages = messages;
    if (this.stopped) await messages.close();
    this.restartWhenGone(messages);
    // Messages already handed over when stop() comes are still handled: dropping them would leave
    // them to the ack wait, and one on its last attempt would never come again.
    for await (const msg of messages) {
      await this.slots.acquire();
      const policy = await this.currentPolicy(consumer, msg.info.redeliveryCount);
      this.handle(msg, policy).finally(() => this.slots.release());
    }
  }

  /**
   * nats.js waits out a deleted consumer by re-checking once per pull expiry (30 s); ending the
   * pull here lets run() look for it again on the shorter reconnect back-off, and re-read its rules.
   */
  private restartWhenGone(messages: ConsumerMessages): void {
    const gone: string[] = [
      ConsumerEvents.ConsumerDeleted,
      ConsumerEvents.ConsumerNotFound,
      ConsumerEvents.StreamNotFound,
    ];
    (async () => {
      for await (const status of await messages.status()) {
        if (gone.includes(status.type)) {
          messages.stop();
          return;
        }
      }
    })().catch(() => {});
  }

  /**
   * The rules to judge a delivery by. A stale copy is re-read in the background and used
   * meanwhile: awaiting the read held up every delivery behind it for a JetStream API round trip,
   * which on a busy server took 24-135 ms once a second (the stall of an in-order trigger's line).
   * Only a delivery that looks like the last waits for the fresh rules.
   */
  private async currentPolicy(consumer: Consumer, deliveryCount: number): Promise<DeliveryPolicy> {
    const cached = this.policy;
    // A delivery that looks like the last is confirmed first: maxDeliver may have been raised.
    const mayBeLast = cached?.maxDeliver !== undefined && deliveryCount >= cached.maxDeliver;
    if (cached !== undefined && !mayBeLast) {
      if (Date.now() - this.policyReadAt >= POLICY_TTL_MS) void this.readPolicy(consumer);
      return cached;
    }
    await this.readPolicy(consumer);
    return this.policy ?? { maxDeliver: undefined, backoffMs: [], ackWaitMs: DEFAULT_ACK_WAIT_MS };
  }

  /** One read of the consumer's rules at a time; a failed one keeps the last rules read. */
  private readPolicy(consumer: Consumer): Promise<void> {
    this.reading ??= consumer
      .info()
      .then(
        (info) => this.updatePolicy(fromNatsConsumer(info).config),
        () => {},
      )
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  private handle(msg: JsMsg, policy: DeliveryPolicy): Promise<void> {
    const { timeoutMs, connected } = this.settings;
    const { info } = msg;
    // nak, term and progress are fire-and-forget: if they cannot go out, the ack wait redelivers.
    const quietly = (send: () => void) => {
      try {
        send();
      } catch {}
    };
    const what = `ack of ${info.stream}:${info.streamSequence}`;
    const delivery: Delivery = {
      subject: msg.subject,
      stream: info.stream,
      streamSeq: info.streamSequence,
      data: msg.data,
      headers: fromNatsHeaders(msg.headers),
      deliveryCount: info.redeliveryCount,
      timestamp: Math.floor(info.timestampNanos / 1_000_000),
      ack: async () => {
        // This ack vouches for the ackLater() calls before it: they went out first, on this connection.
        const earlier = this.unvouched;
        this.unvouched = undefined;
        if (!connected()) throw new BusUnavailableError(`${what}: NATS is unreachable`, 'disconnected');
        await this.settings.turn.next();
        try {
          await msg.ackAck({ timeout: timeoutMs });
        } catch (err) {
          throw toBusError(err, what, 'disconnected');
        }
        if (earlier !== undefined && earlier !== this.settings.disconnects())
          throw new BusUnavailableError(
            `${what}: landed, but the connection was lost after an earlier ack went out, which may not have`,
            'disconnected',
          );
      },
      ackLater: () => {
        let on = connected() ? this.settings.disconnects() : LOST;
        if (on !== LOST) {
          try {
            msg.ack();
          } catch {
            on = LOST;
          }
        }
        if (this.unvouched === undefined || on === LOST) this.unvouched = on;
      },
      nak: (delayMs) => quietly(() => msg.nak(delayMs > 0 ? delayMs : undefined)),
      term: () => quietly(() => msg.term()),
      working: () => quietly(() => msg.working()),
    };
    return runDelivery(delivery, policy, this.settings.handler, systemClock, this.report);
  }

  private wait(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.interruptWait = done;
    });
  }
}
