import {
  AckPolicy,
  DeliverPolicy,
  type MsgHdrs,
  type ConsumerConfig as NatsConsumerConfig,
  type ConsumerInfo as NatsConsumerInfo,
  type StreamConfig as NatsStreamConfig,
  RetentionPolicy,
  StorageType,
  nanos,
  headers as natsHeaders,
} from 'nats';
import type { ConsumerInfo, ResolvedConsumerConfig } from '../consumers.js';
import type { Headers } from '../headers.js';
import type { ResolvedStreamConfig, Retention } from '../streams.js';

/** Between the bus's configs (milliseconds, plain words) and JetStream's (nanoseconds, enums). */

const toMillis = (ns: number | undefined): number => Math.round((ns ?? 0) / 1_000_000);

const RETENTION: Record<Retention, RetentionPolicy> = {
  limits: RetentionPolicy.Limits,
  workqueue: RetentionPolicy.Workqueue,
  interest: RetentionPolicy.Interest,
};

export function toNatsStream(config: ResolvedStreamConfig): Partial<NatsStreamConfig> & { name: string } {
  return {
    name: config.name,
    subjects: [...config.subjects],
    retention: RETENTION[config.retention],
    max_age: nanos(config.maxAgeMs),
    duplicate_window: nanos(config.duplicateWindowMs),
    storage: config.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: config.replicas,
  };
}

export function fromNatsStream(config: NatsStreamConfig): ResolvedStreamConfig {
  const retention = (Object.keys(RETENTION) as Retention[]).find((r) => RETENTION[r] === config.retention);
  return {
    name: config.name,
    subjects: [...(config.subjects ?? [])],
    retention: retention ?? 'limits',
    maxAgeMs: toMillis(config.max_age),
    duplicateWindowMs: toMillis(config.duplicate_window),
    storage: config.storage === StorageType.Memory ? 'memory' : 'file',
    replicas: config.num_replicas || 1,
  };
}

/**
 * The fields an update may change. nats.js merges them into the consumer's current config, so an
 * absent filter is sent as undefined (dropped from the JSON: no filter), and an empty backoff clears it.
 */
export function changeableNatsConsumer(config: ResolvedConsumerConfig): Partial<NatsConsumerConfig> {
  return {
    filter_subject: config.filterSubject,
    ack_wait: nanos(config.ackWaitMs),
    max_deliver: config.maxDeliver ?? -1,
    backoff: config.backoffMs.map((ms) => nanos(ms)),
    max_ack_pending: config.maxAckPending,
    description: config.description,
  };
}

export function toNatsConsumer(config: ResolvedConsumerConfig): Partial<NatsConsumerConfig> {
  const changeable = changeableNatsConsumer(config);
  return {
    ...changeable,
    durable_name: config.name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: config.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    backoff: config.backoffMs.length > 0 ? changeable.backoff : undefined,
    description: config.description === '' ? undefined : config.description,
  };
}

export function fromNatsConsumer(info: NatsConsumerInfo): ConsumerInfo {
  const c = info.config;
  return {
    config: {
      stream: info.stream_name,
      name: info.name,
      filterSubject: c.filter_subject === undefined || c.filter_subject === '' ? undefined : c.filter_subject,
      ackWaitMs: toMillis(c.ack_wait),
      maxDeliver: c.max_deliver !== undefined && c.max_deliver > 0 ? c.max_deliver : undefined,
      backoffMs: (c.backoff ?? []).map(toMillis),
      maxAckPending: c.max_ack_pending ?? 0,
      deliverPolicy: c.deliver_policy === DeliverPolicy.New ? 'new' : 'all',
      description: c.description ?? '',
    },
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
  };
}

export function toNatsHeaders(given: Headers | undefined): MsgHdrs | undefined {
  const entries = Object.entries(given ?? {});
  if (entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [name, value] of entries) h.set(name, value);
  return h;
}

export function fromNatsHeaders(given: MsgHdrs | undefined): Headers {
  const out: Record<string, string> = {};
  for (const name of given?.keys() ?? []) out[name] = given?.get(name) ?? '';
  return out;
}
