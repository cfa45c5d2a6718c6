import { createHash } from 'node:crypto';
import type { ConsumerConfig } from './consumers.js';
import { BusConfigError } from './errors.js';
import type { StreamConfig } from './streams.js';
import { checkSubject, subjectCovers, subjectsOverlap } from './subjects.js';

/**
 * Nimbus's streams, subjects and consumers. Namespaces and function names are RFC 1123 labels, so
 * they are single subject tokens and never contain `_`, which therefore separates them in
 * consumer names.
 */

/** Async calls: `nimbus.calls.<namespace>.<function>`, work-queue retention (gone once acknowledged). */
export const CALLS_STREAM = 'NIMBUS_CALLS';
/** The one durable every gateway replica pulls async calls from: each call goes to one of them. */
export const CALLS_CONSUMER = 'nimbus-calls';
/** NATS trigger events on users' subjects, interest retention (gone once every trigger on the subject has it). */
export const EVENTS_STREAM = 'NIMBUS_EVENTS';
/** Dead letters: `nimbus.dlq.<namespace>.<function>`, kept for their max age. */
export const DEAD_LETTER_STREAM = 'NIMBUS_DLQ';

const DAY_MS = 24 * 60 * 60 * 1000;
const RESERVED = ['nimbus.>', '$JS.>', '$SYS.>', '$KV.>', '$O.>', '_INBOX.>'];

function checkLabel(value: string, what: string): void {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) || value.length > 63)
    throw new BusConfigError(`${what} "${value}" must be a lower-case RFC 1123 label`);
}

export function callSubject(namespace: string, fn: string): string {
  checkLabel(namespace, 'namespace');
  checkLabel(fn, 'function name');
  return `nimbus.calls.${namespace}.${fn}`;
}

export function deadLetterSubject(namespace: string, fn: string): string {
  checkLabel(namespace, 'namespace');
  checkLabel(fn, 'function name');
  return `nimbus.dlq.${namespace}.${fn}`;
}

/** Subjects Nimbus or NATS itself use, which no trigger may listen on. */
export function isReservedSubject(subject: string): boolean {
  return RESERVED.some((reserved) => subjectsOverlap(reserved, subject));
}

/** What every durable for this function's triggers starts with; the controller deletes the ones it no longer wants. */
export function triggerConsumerPrefix(namespace: string, fn: string): string {
  checkLabel(namespace, 'namespace');
  checkLabel(fn, 'function name');
  return `trigger_${namespace}_${fn}_`;
}

/** One durable per function and subject (fan-out: each function on a subject gets every message). */
export function triggerConsumerName(namespace: string, fn: string, subject: string): string {
  const digest = createHash('sha256').update(subject).digest('hex').slice(0, 12);
  return `${triggerConsumerPrefix(namespace, fn)}${digest}`;
}

export interface StreamOptions {
  readonly maxAgeMs?: number;
  readonly replicas?: number;
}

export function callsStreamConfig(options: StreamOptions = {}): StreamConfig {
  return {
    name: CALLS_STREAM,
    subjects: ['nimbus.calls.>'],
    retention: 'workqueue',
    maxAgeMs: options.maxAgeMs ?? 7 * DAY_MS,
    replicas: options.replicas ?? 1,
  };
}

export interface CallsConsumerOptions {
  /** Longer than the slowest function's timeout is not needed: the bus reports progress while a call runs. */
  readonly ackWaitMs?: number;
  /** Calls running at once across all gateway replicas. */
  readonly maxAckPending?: number;
  readonly maxDeliver?: number;
  readonly backoffMs?: readonly number[];
}

export function callsConsumerConfig(options: CallsConsumerOptions = {}): ConsumerConfig {
  return {
    stream: CALLS_STREAM,
    name: CALLS_CONSUMER,
    filterSubject: 'nimbus.calls.>',
    ackWaitMs: options.ackWaitMs ?? 30_000,
    maxAckPending: options.maxAckPending ?? 1_000,
    maxDeliver: options.maxDeliver,
    backoffMs: options.backoffMs,
    description: 'async calls, shared by every gateway replica',
  };
}

/** The fewest subjects that still take every trigger subject: duplicates and subjects a wildcard covers go. */
export function minimalSubjects(subjects: readonly string[]): string[] {
  const unique = [...new Set(subjects)].sort();
  return unique.filter((s) => !unique.some((other) => other !== s && subjectCovers(other, s)));
}

/**
 * The events stream over every trigger subject in the cluster, or undefined when there is none
 * (a stream needs a subject). Throws a BusConfigError for a reserved subject.
 */
export function eventsStreamConfig(
  triggerSubjects: readonly string[],
  options: StreamOptions = {},
): StreamConfig | undefined {
  for (const subject of triggerSubjects) {
    checkSubject(subject, 'trigger subject', true);
    if (isReservedSubject(subject)) throw new BusConfigError(`trigger subject "${subject}" is reserved`);
  }
  const subjects = minimalSubjects(triggerSubjects);
  if (subjects.length === 0) return undefined;
  return {
    name: EVENTS_STREAM,
    subjects,
    retention: 'interest',
    maxAgeMs: options.maxAgeMs ?? 7 * DAY_MS,
    replicas: options.replicas ?? 1,
  };
}

export interface TriggerConsumerOptions {
  readonly namespace: string;
  readonly function: string;
  readonly subject: string;
  readonly maxDeliver: number;
  readonly backoffMs?: readonly number[];
  readonly ackWaitMs?: number;
  readonly maxAckPending?: number;
}

/** A trigger sees what is published after it exists, not the stream's history. */
export function triggerConsumerConfig(options: TriggerConsumerOptions): ConsumerConfig {
  return {
    stream: EVENTS_STREAM,
    name: triggerConsumerName(options.namespace, options.function, options.subject),
    filterSubject: options.subject,
    maxDeliver: options.maxDeliver,
    backoffMs: options.backoffMs,
    ackWaitMs: options.ackWaitMs,
    maxAckPending: options.maxAckPending,
    deliverPolicy: 'new',
    description: `trigger of ${options.namespace}/${options.function} on ${options.subject}`,
  };
}

export function deadLetterStreamConfig(options: StreamOptions = {}): StreamConfig {
  return {
    name: DEAD_LETTER_STREAM,
    subjects: ['nimbus.dlq.>'],
    retention: 'limits',
    maxAgeMs: options.maxAgeMs ?? 14 * DAY_MS,
    replicas: options.replicas ?? 1,
  };
}
