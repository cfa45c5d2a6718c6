import type { Clock, Logger, ResolvedSource, SecretKeyRef, SourceKind } from '@nimbus/api';

/**
 * The contract every event source keeps. A source reads events its own way and hands each one to
 * the platform's durable path through a SourceSink; only once the sink says the event is safe does
 * it acknowledge it to its origin (advance a replication slot, ack a queue message, PUBACK an MQTT
 * message, answer a webhook, move a listing's cursor). From there retries, backoff, dead letters,
 * wake from zero, metrics and tracing are the platform's, the same for every source.
 */

/** One event as a source read it; it becomes a CloudEvent in binary mode. */
export interface SourceEvent {
  /**
   * Stable across re-reads of the same event (a slot read again after a restart, a queue message
   * redelivered, a listing repeated): the JetStream deduplication id and the CloudEvent's `id`.
   * At most 200 printable ASCII characters.
   */
  readonly id: string;
  /** CloudEvent `type`, such as dev.nimbus.postgres.insert. */
  readonly type: string;
  /** CloudEvent `source`: where it happened, with no credentials (postgres://host:5432/db). */
  readonly source: string;
  /** CloudEvent `subject`: the table, the object key, the topic, the routing key. */
  readonly subject?: string;
  /** When the origin committed or published it (epoch ms); the handler sees it as `ce-time`. */
  readonly time: number;
  /** The body's media type, such as application/json. */
  readonly contentType: string;
  readonly data: Uint8Array;
  /**
   * More CloudEvent attributes: lower-case letters and digits, at most 20 characters each; values
   * printable ASCII. They travel as `ce-<name>` headers.
   */
  readonly extensions?: Readonly<Record<string, string>>;
}

/** How a source is doing, for its trigger's status condition and its metrics. */
export interface SourceHealth {
  /** Reading now: connected to its origin (or, for a pushed source, its endpoint served). */
  readonly connected: boolean;
  /** Events the origin holds that this source has not handed on yet, when the origin tells. */
  readonly backlog?: number;
  /** The last failure in words (no credentials), until the source next connects. */
  readonly lastError?: string;
}

export interface SourceSink {
  /**
   * Hands the event to the durable path (stored in JetStream, deduplicated by id). Resolves once it
   * is stored: then acknowledge it to the origin. Rejects when it is not: then do not, and let the
   * origin give it again. Calls may overlap; each resolves on its own.
   */
  store(event: SourceEvent): Promise<void>;
  /**
   * For a source whose origin holds unacknowledged messages itself (RabbitMQ): runs the event
   * through the trigger's deliveries now (attempts with the trigger's backoff, then the dead
   * letters) and resolves once it is settled, delivered or dead-lettered: then acknowledge it.
   * Rejects only when it could not be settled (stopping, or the dead letters unreachable): then
   * hand it back to the origin. `attempt` is the delivery count the origin knows (1 if none).
   */
  deliver(event: SourceEvent, attempt: number): Promise<void>;
  /** Tells the platform how the source is doing; called on every change, cheap. */
  report(health: SourceHealth): void;
}

/** A trigger's secret values, read from Secrets in its Function's namespace that opt in. */
export interface SecretReader {
  /** The value; throws SourceConfigError naming the Secret when it is missing or does not opt in. */
  read(ref: SecretKeyRef): Promise<string>;
}

/** Small durable state a source keeps across restarts (the S3 poller's view of its bucket). */
export interface SourceCheckpoint {
  /** Every field and value. */
  entries(): Promise<Map<string, string>>;
  set(fields: ReadonlyMap<string, string>): Promise<void>;
  delete(fields: readonly string[]): Promise<void>;
  /** Forgets everything (the trigger went). */
  clear(): Promise<void>;
}

export interface SourceContext<K extends SourceKind = SourceKind> {
  readonly source: ResolvedSource<K>;
  readonly secrets: SecretReader;
  readonly sink: SourceSink;
  readonly checkpoint: SourceCheckpoint;
  readonly clock: Clock;
  readonly log: Logger;
}

/** A running reader of one trigger. */
export interface SourceReader {
  /** Connects and reads until stopped, reconnecting with backoff by itself; reports health on the way. */
  start(): void;
  /** Reads no more, waits for what it handed on to settle (acknowledging what it can), and disconnects. */
  stop(): Promise<void>;
}

/** What a source needs made on its origin, and removed when its trigger goes. */
export interface SourceProvisioner<K extends SourceKind = SourceKind> {
  /** Makes (or converges) what the trigger needs: idempotent, safe to call on every reconcile. */
  ensure(source: ResolvedSource<K>, secrets: SecretReader): Promise<void>;
  /** Removes what ensure made: after this, nothing of the trigger is left on the origin. Idempotent. */
  remove(source: ResolvedSource<K>, secrets: SecretReader): Promise<void>;
}

/** A request a pushed source (webhook, S3 notifications) received on the gateway's public port. */
export interface PushedRequest {
  readonly method: string;
  /** Lower-case names; a repeated header joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: Buffer;
}

/** A pushed request refused: the gateway answers `status` with `{ error: message }`. */
export class PushRefusedError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'PushRefusedError';
  }
}

/** How a pushed source turns a request into events, after checking who sent it. */
export interface PushedSource<K extends SourceKind = SourceKind> {
  /** The events in the request (none is fine); throws PushRefusedError for a request to refuse. */
  accept(
    source: ResolvedSource<K>,
    request: PushedRequest,
    secrets: SecretReader,
    now: number,
  ): Promise<SourceEvent[]>;
}

/** A trigger whose configuration cannot work as it is (a missing Secret, a bad URL): said in its status, not retried fast. */
export class SourceConfigError extends Error {
  constructor(
    /** The field, as `spec.triggers[name].postgres.connection`. */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'SourceConfigError';
  }
}

/** What the platform knows of each kind. */
export interface SourceKindModule<K extends SourceKind = SourceKind> {
  readonly kind: K;
  /** One reader for the trigger over every gateway replica (a lease decides which), or one in each. */
  readonly exclusive: boolean;
  /** How the kind reads, when it reads (undefined for a pushed kind, or a mode that pushes). */
  reader?(context: SourceContext<K>): SourceReader | undefined;
  /** How requests pushed to the gateway become events, for a kind that takes them. */
  readonly pushed?: PushedSource<K>;
  readonly provisioner?: SourceProvisioner<K>;
}
