import { parseDuration } from './duration.js';

/**
 * Event sources outside Nimbus that invoke a function: database changes, object storage, queues,
 * MQTT topics and webhooks. Each reads events its own way and hands them to the same durable path
 * (retries with the trigger's backoff, dead letters, wake from zero). See docs/event-sources.md.
 */

/** One key of a Kubernetes Secret in the Function's namespace that opts in (label nimbus.dev/trigger-secret=true). */
export interface SecretKeyRef {
  name: string;
  key: string;
}

/** How the events of a source trigger are retried; the same fields as a NATS trigger's. */
export interface SourceDelivery {
  /** Deliveries per event, the first included (1-100; default 5); after the last, the dead letters. */
  maxDeliver?: number;
  /** Waits before each redelivery; the last step repeats. */
  backoff?: string[];
}

export type PostgresOperation = 'insert' | 'update' | 'delete';

/** Row changes of tables, read through logical replication with a slot of the trigger's own. */
export interface PostgresSource extends SourceDelivery {
  /** A `postgres://` URL of a role with REPLICATION that owns the tables (or may create publications on them). */
  connection: SecretKeyRef;
  /** `schema.table`, or `table` for the public schema. */
  tables: string[];
  /** Default: all three. */
  operations?: PostgresOperation[];
  /** Events of the trigger delivered at once over every gateway; 1 (the default) keeps commit order. */
  concurrency?: number;
}

export type ObjectEventKind = 'created' | 'deleted';

/** Object created and deleted events of a bucket in S3-compatible storage. */
export interface S3Source extends SourceDelivery {
  /** The store's endpoint, such as https://s3.eu-west-1.amazonaws.com or http://minio.storage:9000. */
  endpoint: string;
  region?: string;
  bucket: string;
  prefix?: string;
  suffix?: string;
  /** Default: both. */
  events?: ObjectEventKind[];
  /**
   * `notify` (the default): the store pushes S3 event notifications to the gateway; `poll`: the
   * gateway lists the bucket every `pollInterval`, for stores that cannot push.
   */
  mode?: 'notify' | 'poll';
  pollInterval?: string;
  /** A Secret with `accessKeyId` and `secretAccessKey` (and optionally `sessionToken`). */
  credentials: { secret: string };
  /** notify: the token the store presents (Authorization: Bearer, or ?token=). */
  notifyToken?: SecretKeyRef;
  concurrency?: number;
}

/** Messages of an AMQP 0-9-1 queue, acknowledged once the function answers 2xx. */
export interface RabbitMqSource extends SourceDelivery {
  /** An `amqp://` or `amqps://` URL with the vhost. */
  connection: SecretKeyRef;
  queue: string;
  /** Declare the queue (durable) and its bindings; without it the queue must exist. */
  declare?: boolean;
  bindings?: { exchange: string; routingKey?: string }[];
  /** Messages held unacknowledged per gateway: the concurrency bound (default 10). */
  prefetch?: number;
}

/** Messages on MQTT topic filters, QoS 1 in a persistent session. */
export interface MqttSource extends SourceDelivery {
  /** An `mqtt://`, `mqtts://`, `ws://` or `wss://` URL, with user and password when the broker needs them. */
  connection: SecretKeyRef;
  /** Filters with `+` and `#`. */
  topics: string[];
  qos?: 0 | 1;
  concurrency?: number;
}

export type WebhookSignature = 'github' | 'stripe' | 'standard' | 'hmac-sha256';

/** A public URL that accepts signed requests: acknowledged 202 once stored, then delivered. */
export interface WebhookSource extends SourceDelivery {
  /** The shared signing secret. */
  secret: SecretKeyRef;
  /** How requests are signed (default `standard`, Standard Webhooks). */
  signature?: WebhookSignature;
  /** How old a signed timestamp may be, and how far ahead (default 5m). */
  tolerance?: string;
  concurrency?: number;
}

export interface SourceTriggerKinds {
  postgres: PostgresSource;
  s3: S3Source;
  rabbitmq: RabbitMqSource;
  mqtt: MqttSource;
  webhook: WebhookSource;
}

export type SourceKind = keyof SourceTriggerKinds;

export const SOURCE_KINDS: readonly SourceKind[] = ['postgres', 's3', 'rabbitmq', 'mqtt', 'webhook'];

/** A `spec.triggers` entry of a source kind: exactly one kind, and a name unique in the Function. */
export type SourceTrigger = { name: string } & {
  [K in SourceKind]: { [P in K]: SourceTriggerKinds[K] } & { [P in Exclude<SourceKind, K>]?: never };
}[SourceKind];

/** A source trigger of a Function, with its defaults filled in. */
export interface ResolvedSource<K extends SourceKind = SourceKind> {
  readonly namespace: string;
  readonly function: string;
  /** The trigger's name: unique in the Function, an RFC 1123 label of at most 32 characters. */
  readonly name: string;
  readonly kind: K;
  readonly spec: SourceTriggerKinds[K];
  readonly maxDeliver: number;
  readonly backoffMs: readonly number[];
  /** Events delivered at once over every gateway. */
  readonly concurrency: number;
}

export const DEFAULT_SOURCE_MAX_DELIVER = 5;

/** What sourceTriggersOf reads of a Function (structural, so this module needs none of function.ts). */
export interface FunctionLike {
  readonly metadata: { readonly namespace: string; readonly name: string };
  readonly spec: { readonly triggers?: readonly object[] };
}
const DEFAULT_CONCURRENCY: Readonly<Record<SourceKind, number>> = {
  postgres: 1,
  s3: 16,
  rabbitmq: 10,
  mqtt: 16,
  webhook: 16,
};

export function sourceKindOf(trigger: object): SourceKind | undefined {
  return SOURCE_KINDS.find(
    (kind) => kind in trigger && (trigger as Record<string, unknown>)[kind] !== undefined,
  );
}

/** The Function's source triggers, defaults filled in, in spec order. Pure. */
export function sourceTriggersOf(fn: FunctionLike): ResolvedSource[] {
  const out: ResolvedSource[] = [];
  for (const trigger of fn.spec.triggers ?? []) {
    const kind = sourceKindOf(trigger);
    if (kind === undefined) continue;
    const named = trigger as SourceTrigger;
    const spec = (named as unknown as Record<SourceKind, SourceTriggerKinds[SourceKind]>)[kind];
    const maxDeliver = spec.maxDeliver ?? DEFAULT_SOURCE_MAX_DELIVER;
    const concurrency =
      kind === 'rabbitmq'
        ? ((spec as RabbitMqSource).prefetch ?? DEFAULT_CONCURRENCY.rabbitmq)
        : ((spec as { concurrency?: number }).concurrency ?? DEFAULT_CONCURRENCY[kind]);
    out.push({
      namespace: fn.metadata.namespace,
      function: fn.metadata.name,
      name: named.name,
      kind,
      spec,
      maxDeliver,
      backoffMs: (spec.backoff ?? []).map(parseDuration).slice(0, Math.max(0, maxDeliver - 1)),
      concurrency,
    });
  }
  return out;
}

/** `namespace/function/trigger`: how logs, metrics and leases name a source trigger. */
export function sourceKey(source: Pick<ResolvedSource, 'namespace' | 'function' | 'name'>): string {
  return `${source.namespace}/${source.function}/${source.name}`;
}
