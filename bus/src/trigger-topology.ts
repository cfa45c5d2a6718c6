import { type FunctionResource, type NatsTrigger, parseDuration } from '@nimbus/api';
import type { ConsumerConfig } from './consumers.js';
import type { StreamConfig } from './streams.js';
import { eventsStreamConfig, isReservedSubject, triggerConsumerConfig } from './topology.js';

/** A NATS trigger with its defaults and durations resolved. */
export interface ResolvedTrigger {
  readonly subject: string;
  readonly maxDeliver: number;
  readonly backoffMs: readonly number[];
}

/** A trigger the platform cannot serve, with why: reported on the Function, never retried as is. */
export interface RefusedTrigger {
  readonly subject: string;
  readonly reason: string;
}

const DEFAULT_MAX_DELIVER = 5;

/**
 * A Function's NATS triggers, split into those the bus can serve and those it refuses (a subject
 * Nimbus or NATS keeps for itself). Pure. A backoff list longer than the deliveries allow is cut:
 * steps past the last delivery could never be used, and JetStream refuses such a consumer.
 */
export function natsTriggers(fn: FunctionResource): {
  triggers: ResolvedTrigger[];
  refused: RefusedTrigger[];
} {
  const triggers: ResolvedTrigger[] = [];
  const refused: RefusedTrigger[] = [];
  const seen = new Set<string>();
  for (const trigger of fn.spec.triggers ?? []) {
    if (!('nats' in trigger)) continue;
    const { subject, maxDeliver = DEFAULT_MAX_DELIVER, backoff = [] } = (trigger as NatsTrigger).nats;
    if (seen.has(subject)) continue;
    seen.add(subject);
    if (isReservedSubject(subject)) {
      refused.push({ subject, reason: `subject ${subject} is reserved for Nimbus or NATS itself` });
      continue;
    }
    const backoffMs = backoff.map(parseDuration).slice(0, Math.max(0, maxDeliver - 1));
    triggers.push({ subject, maxDeliver, backoffMs });
  }
  return { triggers, refused };
}

/** The durable consumers a Function's triggers need: one per subject, so functions on one subject each get every message. */
export function triggerConsumers(fn: FunctionResource): ConsumerConfig[] {
  return natsTriggers(fn).triggers.map((t) =>
    triggerConsumerConfig({
      namespace: fn.metadata.namespace,
      function: fn.metadata.name,
      subject: t.subject,
      maxDeliver: t.maxDeliver,
      backoffMs: t.backoffMs.length > 0 ? t.backoffMs : undefined,
    }),
  );
}

/**
 * The events stream over every servable trigger subject of the Functions given (all this
 * controller sees, less those being deleted), or undefined when there is none. Pure.
 */
export function eventsStream(functions: Iterable<FunctionResource>): StreamConfig | undefined {
  const subjects: string[] = [];
  for (const fn of functions) {
    if (fn.metadata.deletionTimestamp !== undefined) continue;
    for (const t of natsTriggers(fn).triggers) subjects.push(t.subject);
  }
  return eventsStreamConfig(subjects);
}
