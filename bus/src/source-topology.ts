import { type ResolvedSource, sourceTriggersOf } from '@nimbus/api';
import type { ConsumerConfig } from './consumers.js';
import { BusConfigError } from './errors.js';
import type { StreamConfig } from './streams.js';

/**
 * Events of the sources outside Nimbus (docs/event-sources.md): a reader stores each one on
 * `nimbus.sources.<namespace>.<function>.<trigger>` in NIMBUS_SOURCES, deduplicated by the
 * event's id, and acknowledges it to its origin; one durable per trigger delivers them to the
 * function with the trigger's retries. Work-queue retention: an event is gone once its trigger
 * has it (each subject has one durable). Namespaces, function and trigger names are RFC 1123
 * labels: single subject tokens without `_`, which therefore separates them in consumer names.
 */

export const SOURCES_STREAM = 'NIMBUS_SOURCES';
const SOURCES_SUBJECTS = 'nimbus.sources.>';
const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * How long an event id is remembered: a reader that stored an event and died before its origin
 * heard so reads it again after a restart, a lease takeover or a server restart, well inside this.
 */
const SOURCE_DUPLICATE_WINDOW_MS = 15 * 60 * 1000;
/**
 * How long a delivery may go without a word: the bus reports progress while a call runs, so this
 * measures a gateway that died mid-delivery: the next holder of an ordered trigger waits this long
 * (or its longest backoff step) before it takes the trigger's events on.
 */
const SOURCE_ACK_WAIT_MS = 10_000;

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type SourceRef = Pick<ResolvedSource, 'namespace' | 'function' | 'name'>;

function checkRef(source: SourceRef): void {
  for (const [what, value] of [
    ['namespace', source.namespace],
    ['function name', source.function],
    ['trigger name', source.name],
  ] as const)
    if (!LABEL.test(value) || value.length > 63)
      throw new BusConfigError(`${what} "${value}" must be a lower-case RFC 1123 label`);
}

export function sourceSubject(source: SourceRef): string {
  checkRef(source);
  return `nimbus.sources.${source.namespace}.${source.function}.${source.name}`;
}

/** What every durable of one Function's sources starts with. */
export function sourceConsumerPrefix(namespace: string, fn: string): string {
  checkRef({ namespace, function: fn, name: 'x' });
  return `source_${namespace}_${fn}_`;
}

export function sourceConsumerName(source: SourceRef): string {
  checkRef(source);
  return `${sourceConsumerPrefix(source.namespace, source.function)}${source.name}`;
}

export interface SourceStreamOptions {
  readonly maxAgeMs?: number;
  readonly replicas?: number;
}

export function sourcesStreamConfig(options: SourceStreamOptions = {}): StreamConfig {
  return {
    name: SOURCES_STREAM,
    subjects: [SOURCES_SUBJECTS],
    retention: 'workqueue',
    maxAgeMs: options.maxAgeMs ?? 7 * DAY_MS,
    duplicateWindowMs: SOURCE_DUPLICATE_WINDOW_MS,
    replicas: options.replicas ?? 1,
  };
}

/**
 * Events an ordered trigger (`concurrency: 1`) holds out at once: fetched ahead by the one gateway
 * that delivers it (the holder of its lease), which runs them one after another in stream order.
 */
export const ORDERED_WINDOW = 32;

/** Whether a source trigger's events run one after another, in the order they were stored. */
export function deliversInOrder(source: Pick<ResolvedSource, 'concurrency' | 'kind'>): boolean {
  return source.concurrency === 1 && storesInStream(source);
}

/**
 * The durable of one source trigger: its maxDeliver and backoff, and its concurrency as the
 * deliveries out at once over every gateway. An ordered trigger's window is out instead: only
 * its lease holder pulls, so the order holds (gateway/src/triggers/ordered-trigger.ts).
 */
export function sourceConsumerConfig(source: ResolvedSource): ConsumerConfig {
  return {
    stream: SOURCES_STREAM,
    name: sourceConsumerName(source),
    filterSubject: sourceSubject(source),
    maxDeliver: source.maxDeliver,
    backoffMs: source.backoffMs.length > 0 ? source.backoffMs : undefined,
    ackWaitMs: SOURCE_ACK_WAIT_MS,
    maxAckPending: deliversInOrder(source) ? ORDERED_WINDOW : source.concurrency,
    deliverPolicy: 'all',
    description: `${source.kind} trigger ${source.name} of ${source.namespace}/${source.function}`,
  };
}

/**
 * The durables a Function's source triggers need, except RabbitMQ's (its queue keeps the
 * messages, and the gateway delivers them straight from it).
 */
export function sourceConsumers(fn: Parameters<typeof sourceTriggersOf>[0]): ConsumerConfig[] {
  return sourceTriggersOf(fn)
    .filter((s) => storesInStream(s))
    .map(sourceConsumerConfig);
}

/** Whether the source's events pass through NIMBUS_SOURCES (all but RabbitMQ's). */
export function storesInStream(source: Pick<ResolvedSource, 'kind'>): boolean {
  return source.kind !== 'rabbitmq';
}
