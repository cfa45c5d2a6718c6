import { type Clock, JsonLogger, type RabbitMqSource, type ResolvedSource, systemClock } from '@nimbus/api';
import amqp, { type Options } from 'amqplib';
import {
  type SecretReader,
  type SourceCheckpoint,
  SourceConfigError,
  type SourceContext,
  type SourceEvent,
  type SourceHealth,
  type SourceSink,
} from '../../src/index.js';

/** A trigger on `queue`, as sourceTriggersOf would resolve it. */
export function rabbitTrigger(
  spec: Partial<RabbitMqSource> & { queue: string },
  name = 'orders',
): ResolvedSource<'rabbitmq'> {
  return {
    namespace: 'shop',
    function: 'fulfil',
    name,
    kind: 'rabbitmq',
    spec: { connection: { name: 'broker', key: 'url' }, ...spec },
    maxDeliver: 5,
    backoffMs: [],
    concurrency: spec.prefetch ?? 10,
  };
}

/** Secrets from a map of `name/key` to value; a missing one is the SourceConfigError the real reader throws. */
export function secretsOf(values: Record<string, string>): SecretReader {
  return {
    async read(ref) {
      const value = values[`${ref.name}/${ref.key}`];
      if (value === undefined) throw new SourceConfigError(`secret ${ref.name}`, `has no key ${ref.key}`);
      return value;
    },
  };
}

export interface Delivery {
  readonly event: SourceEvent;
  readonly attempt: number;
  /** Settles the delivery: delivered (resolve) or not settled (reject). */
  resolve(): void;
  reject(err: Error): void;
}

/**
 * The platform's side of a source, as a test double: every deliver() is recorded and settles when
 * the test says, or at once with `autoResolve`. It counts the deliveries running at once.
 */
export class RecordingSink implements SourceSink {
  readonly deliveries: Delivery[] = [];
  readonly health: SourceHealth[] = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly autoResolve = false) {}

  store(): Promise<void> {
    return Promise.reject(new Error('a RabbitMQ reader never stores'));
  }

  deliver(event: SourceEvent, attempt: number): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => {
      this.deliveries.push({ event, attempt, resolve, reject });
      if (this.autoResolve) resolve();
    }).finally(() => {
      this.inFlight--;
    });
  }

  report(health: SourceHealth): void {
    this.health.push(health);
  }

  get last(): SourceHealth | undefined {
    return this.health.at(-1);
  }

  ids(): string[] {
    return this.deliveries.map((d) => d.event.id);
  }
}

const noCheckpoint: SourceCheckpoint = {
  entries: async () => new Map(),
  set: async () => {},
  delete: async () => {},
  clear: async () => {},
};

/** A reader's context, its log lines kept in `lines`. */
export function readerContext(
  source: ResolvedSource<'rabbitmq'>,
  url: string,
  sink: SourceSink,
  clock: Clock = systemClock,
): SourceContext<'rabbitmq'> & { lines: string[] } {
  const lines: string[] = [];
  return {
    source,
    secrets: secretsOf({ 'broker/url': url }),
    sink,
    checkpoint: noCheckpoint,
    clock,
    log: new JsonLogger((line) => lines.push(line), clock, 'debug'),
    lines,
  };
}

/** Publishes each message persistent to `exchange` ('' for the default: routingKey is then the queue) and waits for the confirms. */
export async function publish(
  url: string,
  exchange: string,
  routingKey: string,
  messages: { body: string | Buffer; options?: Options.Publish }[],
): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    for (const { body, options } of messages)
      channel.publish(exchange, routingKey, Buffer.from(body), { persistent: true, ...options });
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

/** Runs `op` on a channel of a fresh connection, then closes it. */
export async function withChannel<T>(url: string, op: (channel: amqp.Channel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(url);
  connection.on('error', () => {});
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    return await op(channel);
  } finally {
    await connection.close().catch(() => {});
  }
}
