import type { Clock } from '@nimbus/api';
import type { ResolvedConsumerConfig } from './consumers.js';
import { BusError } from './errors.js';
import { type Headers, messageId } from './headers.js';
import type { BusMessage, MessageHandler } from './message-bus.js';
import { retryDelay } from './retry-delay.js';

/** One delivery as an adapter hands it over, before the bus's rules are put around it. */
export interface Delivery {
  readonly subject: string;
  readonly stream: string;
  readonly streamSeq: number;
  readonly data: Uint8Array;
  readonly headers: Headers;
  readonly deliveryCount: number;
  readonly timestamp: number;
  ack(): Promise<void>;
  /** Sends the ack without waiting for the server's word; the next `ack()` vouches for it. */
  ackLater(): void;
  nak(delayMs: number): void;
  term(): void;
  working(): void;
}

export type DeliveryPolicy = Pick<ResolvedConsumerConfig, 'maxDeliver' | 'backoffMs' | 'ackWaitMs'>;

/**
 * Runs `handler` on one delivery with the rules both adapters share: settle once; `nak()` defaults
 * to the backoff step; a nak on the last attempt ends the message (JetStream would keep a
 * max-delivered message pending forever, filling maxAckPending); progress is reported while the
 * handler runs, so the ack wait measures a dead worker rather than a slow function; a throwing
 * handler naks.
 */
export async function runDelivery(
  delivery: Delivery,
  policy: DeliveryPolicy,
  handler: MessageHandler,
  clock: Clock,
  onError: (error: Error) => void,
): Promise<void> {
  const { deliveryCount } = delivery;
  const lastAttempt = policy.maxDeliver !== undefined && deliveryCount >= policy.maxDeliver;
  let settled = false;
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    return true;
  };
  const message: BusMessage = {
    id: messageId(delivery.headers, delivery.stream, delivery.streamSeq),
    subject: delivery.subject,
    stream: delivery.stream,
    streamSeq: delivery.streamSeq,
    data: delivery.data,
    headers: delivery.headers,
    deliveryCount,
    timestamp: delivery.timestamp,
    lastAttempt,
    ack() {
      if (!settle()) return Promise.resolve();
      const acked = delivery.ack();
      // A handler that does not await its ack must not crash the process with an unhandled rejection.
      acked.catch(() => {});
      return acked;
    },
    ackLater() {
      if (settle()) delivery.ackLater();
    },
    nak(delayMs) {
      if (!settle()) return;
      if (lastAttempt) delivery.term();
      else delivery.nak(delayMs ?? retryDelay(policy.backoffMs, deliveryCount));
    },
    term() {
      if (settle()) delivery.term();
    },
    working() {
      if (!settled) delivery.working();
    },
  };

  const every = Math.max(1, Math.floor(Math.min(policy.ackWaitMs, ...policy.backoffMs) / 3));
  let timer: unknown;
  const beat = () => {
    message.working();
    timer = clock.setTimeout(beat, every);
  };
  timer = clock.setTimeout(beat, every);
  try {
    await handler(message);
  } catch (err) {
    message.nak();
    const error = new BusError(`the handler failed on message ${message.id} (delivery ${deliveryCount})`, {
      cause: err,
    });
    try {
      onError(error);
    } catch {
      // A failing error callback must not become an unhandled rejection in the pull loop.
    }
  } finally {
    clock.clearTimeout(timer);
  }
}
