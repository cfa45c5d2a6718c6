import { type Clock, JsonLogger, type MqttSource, type ResolvedSource, type SecretKeyRef } from '@nimbus/api';
import { type MqttClient, connect } from 'mqtt';
import {
  type SecretReader,
  type SourceCheckpoint,
  SourceConfigError,
  type SourceContext,
  type SourceEvent,
  type SourceHealth,
  type SourceSink,
} from '../../src/index.js';

/**
 * The test doubles the MQTT tests use at the source layer (the SourceSink and SecretReader ports
 * only; the broker is a real mosquitto) and a plain publisher.
 */

/** Records what the reader stored and reported; `storeWith` decides how each store ends. */
export class RecordingSink implements SourceSink {
  /** Events whose store resolved, in the order they resolved. */
  readonly events: SourceEvent[] = [];
  /** Every store call, resolved or not. */
  readonly attempts: SourceEvent[] = [];
  readonly health: SourceHealth[] = [];
  storeWith: (event: SourceEvent) => Promise<void> = async () => {};

  async store(event: SourceEvent): Promise<void> {
    this.attempts.push(event);
    await this.storeWith(event);
    this.events.push(event);
  }

  deliver(): Promise<void> {
    return Promise.reject(new Error('an MQTT reader stores; it never delivers'));
  }

  report(health: SourceHealth): void {
    this.health.push(health);
  }

  get last(): SourceHealth | undefined {
    return this.health.at(-1);
  }

  /** Payloads stored, as text. */
  payloads(): string[] {
    return this.events.map((e) => Buffer.from(e.data).toString('utf8'));
  }
}

/** Secrets by `name/key`; a missing one is the SourceConfigError the real reader gives. */
export function secretsOf(values: Readonly<Record<string, string>>): SecretReader {
  return {
    async read(ref: SecretKeyRef) {
      const value = values[`${ref.name}/${ref.key}`];
      if (value === undefined)
        throw new SourceConfigError('connection', `Secret ${ref.name} has no key ${ref.key}`);
      return value;
    },
  };
}

/** A resolved MQTT trigger of function `fn` in namespace `shop`, its URL in Secret `broker/url`. */
export function mqttTrigger(
  spec: Omit<MqttSource, 'connection'>,
  name = 'readings',
  fn = 'thermostat',
): ResolvedSource<'mqtt'> {
  return {
    namespace: 'shop',
    function: fn,
    name,
    kind: 'mqtt',
    spec: { connection: { name: 'broker', key: 'url' }, ...spec },
    maxDeliver: 5,
    backoffMs: [],
    concurrency: 16,
  };
}

/** A checkpoint in memory: share one between readers to stand for the trigger's durable one. */
export class MemoryCheckpoint implements SourceCheckpoint {
  readonly fields = new Map<string, string>();

  async entries(): Promise<Map<string, string>> {
    return new Map(this.fields);
  }

  async set(fields: ReadonlyMap<string, string>): Promise<void> {
    for (const [field, value] of fields) this.fields.set(field, value);
  }

  async delete(fields: readonly string[]): Promise<void> {
    for (const field of fields) this.fields.delete(field);
  }

  async clear(): Promise<void> {
    this.fields.clear();
  }
}

/** A reader's context; log lines land in `logs`, so a test can read them for secrets. */
export function readerContext(
  source: ResolvedSource<'mqtt'>,
  url: string,
  sink: SourceSink,
  clock: Clock,
  logs: string[] = [],
  checkpoint: SourceCheckpoint = new MemoryCheckpoint(),
): SourceContext<'mqtt'> {
  return {
    source,
    secrets: secretsOf({ 'broker/url': url }),
    sink,
    checkpoint,
    clock,
    log: new JsonLogger((line) => logs.push(line), clock, 'debug'),
  };
}

/** A plain MQTT.js client that publishes; resolves once connected. */
export async function publisher(
  url: string,
  options: { username?: string; password?: string } = {},
): Promise<MqttClient> {
  const client = connect(url, { protocolVersion: 5, reconnectPeriod: 100, ...options });
  client.on('error', () => {}); // a refused or broken connection shows in the test's own asserts
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('close', () => reject(new Error(`publisher could not connect to ${url}`)));
  });
  return client;
}

/** `mqtt://user:password@127.0.0.1:port` from a harness URL. */
export function withLogin(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}
