import { BusConfigError } from './errors.js';
import { checkName } from './names.js';
import { checkSubject } from './subjects.js';

/** A durable pull consumer: every subscriber to it shares its messages (each message to one of them). */
export interface ConsumerConfig {
  readonly stream: string;
  readonly name: string;
  /** Only messages on these subjects; default: all the stream's. */
  readonly filterSubject?: string;
  /**
   * How long a delivery may go without ack, nak or progress before it is redelivered; default 30 s.
   * With a backoff list JetStream takes its first step instead, and so does the memory bus.
   */
  readonly ackWaitMs?: number;
  /** Deliveries per message, first included; default unlimited. */
  readonly maxDeliver?: number;
  /**
   * Waits before redelivery n+1 after delivery n fails (`nak()` without a delay, or ack wait
   * expiry); the last step repeats. Needs `maxDeliver` greater than its length.
   */
  readonly backoffMs?: readonly number[];
  /** Deliveries out at once across all subscribers; default 1000. */
  readonly maxAckPending?: number;
  /** Where a new consumer starts: `all` stored messages (default) or only `new` ones. Fixed at creation. */
  readonly deliverPolicy?: 'all' | 'new';
  readonly description?: string;
}

export interface ResolvedConsumerConfig {
  readonly stream: string;
  readonly name: string;
  readonly filterSubject: string | undefined;
  readonly ackWaitMs: number;
  readonly maxDeliver: number | undefined;
  readonly backoffMs: readonly number[];
  readonly maxAckPending: number;
  readonly deliverPolicy: 'all' | 'new';
  readonly description: string;
}

export interface ConsumerInfo {
  readonly config: ResolvedConsumerConfig;
  /** Stored messages the consumer has not delivered yet. */
  readonly pending: number;
  /** Delivered and not yet acknowledged or terminated (including those waiting for redelivery). */
  readonly ackPending: number;
}

export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_ACK_PENDING = 1_000;

function checkCount(value: number, what: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new BusConfigError(`${what} must be a whole number of at least ${min}, not ${value}`);
}

/** Defaults filled in and every field checked; throws a BusConfigError naming the field. */
export function resolveConsumerConfig(config: ConsumerConfig): ResolvedConsumerConfig {
  checkName(config.stream, 'stream name');
  checkName(config.name, 'consumer name');
  const where = `consumer ${config.stream}/${config.name}`;
  if (config.filterSubject !== undefined)
    checkSubject(config.filterSubject, `filterSubject of ${where}`, true);
  const backoffMs = [...(config.backoffMs ?? [])];
  for (const step of backoffMs) checkCount(step, `backoffMs of ${where}`, 1);
  if (config.maxDeliver !== undefined) checkCount(config.maxDeliver, `maxDeliver of ${where}`, 1);
  if (backoffMs.length > 0 && (config.maxDeliver === undefined || config.maxDeliver <= backoffMs.length))
    throw new BusConfigError(`maxDeliver of ${where} must be greater than the number of backoff steps`);
  const ackWaitMs = backoffMs[0] ?? config.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  checkCount(ackWaitMs, `ackWaitMs of ${where}`, 1);
  const maxAckPending = config.maxAckPending ?? DEFAULT_MAX_ACK_PENDING;
  checkCount(maxAckPending, `maxAckPending of ${where}`, 1);
  return Object.freeze({
    stream: config.stream,
    name: config.name,
    filterSubject: config.filterSubject,
    ackWaitMs,
    maxDeliver: config.maxDeliver,
    backoffMs: Object.freeze(backoffMs),
    maxAckPending,
    deliverPolicy: config.deliverPolicy ?? 'all',
    description: config.description ?? '',
  });
}

/**
 * The fields to change to bring an existing consumer to `desired`. Where it starts
 * (`deliverPolicy`) only matters at creation, so a difference there is not a change.
 */
export function consumerChanges(desired: ResolvedConsumerConfig, observed: ResolvedConsumerConfig): string[] {
  const fields = ['filterSubject', 'ackWaitMs', 'maxDeliver', 'maxAckPending', 'description'] as const;
  const changed: string[] = fields.filter((field) => desired[field] !== observed[field]);
  const sameBackoff =
    desired.backoffMs.length === observed.backoffMs.length &&
    desired.backoffMs.every((step, i) => step === observed.backoffMs[i]);
  if (!sameBackoff) changed.push('backoffMs');
  return changed;
}
