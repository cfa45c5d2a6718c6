import { backoffDelay } from '@nimbus/api';

/**
 * How long to wait before redelivering a message whose delivery number `deliveryCount` failed:
 * the backoff step for that delivery, the last step repeating; 0 without a backoff list.
 * JetStream spaces ack-wait redeliveries the same way.
 */
export function retryDelay(backoffMs: readonly number[], deliveryCount: number): number {
  if (backoffMs.length === 0) return 0;
  const step = Math.min(Math.max(deliveryCount, 1), backoffMs.length) - 1;
  return backoffMs[step] ?? 0;
}

/** Wait before reconnect attempt `attempt` (0-based): doubling from `minMs`, capped at `maxMs`, jittered down by up to half. */
export function reconnectDelay(attempt: number, minMs: number, maxMs: number, random: number): number {
  return backoffDelay({ baseMs: minMs, maxMs, jitter: 'equal' }, attempt + 1, () => random);
}
