import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { secretEnvName } from '@nimbus/gateway';
import {
  type MosquittoServer,
  type PostgresServer,
  type RabbitMqServer,
  type RedisServer,
  type S3Server,
  eventually,
  freePort,
  send,
  startMosquittoServer,
  startPostgresServer,
  startRabbitMqServer,
  startRedisServer,
  startS3Server,
} from '@nimbus/testkit';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { admin } from './async-calls.js';
import { functionsFolder } from './fixtures.js';
import { LocalModeProcess } from './local-mode-process.js';
import { type SecuredNats, startSecuredNats } from './nats.js';
import type { Seen } from './recording-function.js';

export { type Seen, assertOncePerId, bulkIds, recordingFunction } from './recording-function.js';

/** The Secrets (local mode's NIMBUS_SECRET_* variables) the fixture's servers are reached with. */
export const SECRETS = {
  postgres: 'shop-db',
  rabbitmq: 'broker',
  mqtt: 'broker-mqtt',
  s3: 'store',
  pushingStore: 'pushing-store',
} as const;
/**
 * A trigger entry of a Function's YAML on one of the fixture's brokers or databases, its
 * connection from the fixture's Secret: `fields` follow in the kind's block, in order.
 */
export function sourceTrigger(
  name: string,
  kind: 'postgres' | 'rabbitmq' | 'mqtt',
  fields: Readonly<Record<string, string | number | boolean>>,
): string {
  return [
    `  - name: ${name}`,
    `    ${kind}:`,
    `      connection: { name: ${SECRETS[kind]}, key: url }`,
    ...Object.entries(fields).map(([field, value]) => `      ${field}: ${value}`),
  ].join('\n');
}
export const NOTIFY_TOKEN = 'a-token-the-store-sends';
export const PUSHING_KEYS = { accessKeyId: 'AKPUSHINGSTORE01', secretAccessKey: 'pushing-store-secret-key' };

export type SourceServerName = 'postgres' | 'rabbitmq' | 'mqtt' | 's3';
const ALL_SOURCES: readonly SourceServerName[] = ['postgres', 'rabbitmq', 'mqtt', 's3'];

/** Where things are, for writing the Functions before the gateway starts. */
export interface FixtureAddresses {
  /** The folder the recording functions write to. */
  readonly records: string;
  /** The polled store's endpoint (with `s3`). */
  readonly s3: string;
  /** The endpoint the pushing store will have once `startPushingStore` runs. */
  readonly pushing: string;
}

export interface EventSourceFixtureOptions {
  /** Which source servers to start (Redis and NATS always are); all four by default. */
  readonly sources?: readonly SourceServerName[];
  /** The functions folder's files. */
  functions(at: FixtureAddresses): Record<string, string>;
  /** Runs once the servers are up and before the gateway starts: tables, buckets. */
  prepare?(fixture: EventSourceFixture): Promise<void>;
  /** More local-mode environment. */
  readonly env?: Record<string, string>;
}

/** An S3 client of the harness's store, path-style, as versitygw wants it. */
export function s3Client(
  server: S3Server,
  keys = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: keys,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/**
 * Real Redis, NATS (with Nimbus's users), the source servers a test asks for on free loopback
 * ports, a functions folder of recording Functions, and a local-mode gateway on a port that
 * stays the same across `killGateway()` and `startGateway()` (a store's webhook and a retrying
 * sender keep their URL). What each function saw is in a file, so it outlives a killed gateway.
 */
export class EventSourceFixture {
  platform!: LocalModeProcess;
  /** The gateway's fixed port. */
  readonly url: string;
  private pushingStore: S3Server | undefined;
  private readonly clients: S3Client[] = [];
  private dir = '';

  private constructor(
    readonly redis: RedisServer,
    readonly nats: SecuredNats,
    private readonly servers: Partial<{
      postgres: PostgresServer;
      rabbitmq: RabbitMqServer;
      mqtt: MosquittoServer;
      s3: S3Server;
    }>,
    readonly records: string,
    private readonly gatewayPort: number,
    private readonly pushingPort: number,
    private env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${gatewayPort}`;
  }

  static async start(options: EventSourceFixtureOptions): Promise<EventSourceFixture> {
    const want = new Set(options.sources ?? ALL_SOURCES);
    const started = await Promise.allSettled([
      startRedisServer(),
      startSecuredNats(),
      want.has('postgres') ? startPostgresServer() : undefined,
      want.has('rabbitmq') ? startRabbitMqServer() : undefined,
      want.has('mqtt') ? startMosquittoServer() : undefined,
      want.has('s3') ? startS3Server() : undefined,
    ]);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value?.stop() : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    const [redis, nats, postgres, rabbitmq, mqttServer, s3] = started.map(
      (s) => (s as PromiseFulfilledResult<unknown>).value,
    ) as [RedisServer, SecuredNats, PostgresServer?, RabbitMqServer?, MosquittoServer?, S3Server?];
    const [gatewayPort, pushingPort] = [await freePort(), await freePort()];
    const env: Record<string, string> = {
      PORT: String(gatewayPort),
      NIMBUS_REDIS_URL: redis.url,
      ...nats.env('local'),
      NIMBUS_WARM_POOL_SIZE: '0',
      [secretEnvName(SECRETS.pushingStore, 'accessKeyId')]: PUSHING_KEYS.accessKeyId,
      [secretEnvName(SECRETS.pushingStore, 'secretAccessKey')]: PUSHING_KEYS.secretAccessKey,
      [secretEnvName(SECRETS.pushingStore, 'token')]: NOTIFY_TOKEN,
    };
    if (postgres) env[secretEnvName(SECRETS.postgres, 'url')] = postgres.url();
    if (rabbitmq) env[secretEnvName(SECRETS.rabbitmq, 'url')] = rabbitmq.url;
    if (mqttServer) env[secretEnvName(SECRETS.mqtt, 'url')] = mqttServer.url;
    if (s3) {
      env[secretEnvName(SECRETS.s3, 'accessKeyId')] = s3.accessKeyId;
      env[secretEnvName(SECRETS.s3, 'secretAccessKey')] = s3.secretAccessKey;
    }
    const records = await mkdtemp(join(tmpdir(), 'nimbus-records-'));
    const fixture = new EventSourceFixture(
      redis,
      nats,
      { postgres, rabbitmq, mqtt: mqttServer, s3 },
      records,
      gatewayPort,
      pushingPort,
      { ...env, ...options.env },
    );
    try {
      await options.prepare?.(fixture);
      fixture.dir = await functionsFolder(
        options.functions({
          records,
          s3: s3?.endpoint ?? 'http://127.0.0.1:1',
          pushing: `http://127.0.0.1:${pushingPort}`,
        }),
      );
      await fixture.startGateway();
    } catch (err) {
      await fixture.stop();
      throw err;
    }
    return fixture;
  }

  get postgres(): PostgresServer {
    return this.server('postgres');
  }
  get rabbitmq(): RabbitMqServer {
    return this.server('rabbitmq');
  }
  get mqtt(): MosquittoServer {
    return this.server('mqtt');
  }
  get s3(): S3Server {
    return this.server('s3');
  }

  private server<K extends SourceServerName>(kind: K): NonNullable<EventSourceFixture['servers'][K]> {
    const server = this.servers[kind];
    if (server === undefined) throw new Error(`this fixture did not start the ${kind} server`);
    return server as NonNullable<EventSourceFixture['servers'][K]>;
  }

  /** A client of the polled store (destroyed by `stop()`). */
  storeClient(): S3Client {
    const client = s3Client(this.s3);
    this.clients.push(client);
    return client;
  }

  /** A local-mode gateway on the fixture's port, reading the same folder as the last. */
  async startGateway(): Promise<void> {
    this.platform = await LocalModeProcess.start(this.dir, this.env);
  }

  /** SIGKILL: a crash mid-stream. */
  killGateway(): Promise<void> {
    return this.platform.kill();
  }

  /**
   * versitygw pushing its notifications to `path` on the gateway. It posts a test event as it
   * starts and will not start unless something answers, so the gateway must be up.
   */
  async startPushingStore(path: string): Promise<S3Client> {
    this.pushingStore = await startS3Server({
      ...PUSHING_KEYS,
      port: this.pushingPort,
      eventWebhookUrl: `${this.url}${path}`,
    });
    const client = s3Client(this.pushingStore, PUSHING_KEYS);
    this.clients.push(client);
    return client;
  }

  /** While held, `fn` answers 503 without recording: its events stay in the durable path. */
  async hold(fn: string): Promise<void> {
    await writeFile(join(this.records, `${fn}.jsonl.hold`), '');
  }

  async release(fn: string): Promise<void> {
    await rm(join(this.records, `${fn}.jsonl.hold`), { force: true });
  }

  /** From now on `fn` takes the events it would refuse (a fixed function, for a redrive). */
  async accept(fn: string): Promise<void> {
    await writeFile(join(this.records, `${fn}.jsonl.accept`), '');
  }

  async seenBy(fn: string): Promise<Seen[]> {
    const reply = await send(this.platform.url, `/function/${fn}`);
    assert.equal(reply.status, 200, reply.text);
    return reply.json<{ seen: Seen[] }>().seen;
  }

  /** Polls what `fn` saw until `enough`; a timeout names what the gateway said about sources. */
  waitFor(fn: string, what: string, enough: (seen: Seen[]) => boolean, ms = 60_000): Promise<Seen[]> {
    return eventually(
      async () => {
        const seen = await this.seenBy(fn);
        return enough(seen) ? seen : undefined;
      },
      ms,
      what,
    ).catch((err: Error) => {
      const said = this.platform.logs.filter(
        (l) => l.level === 'warn' || l.level === 'error' || /source|trigger/.test(String(l.msg)),
      );
      throw new Error(`${err.message}; the gateway said: ${JSON.stringify(said).slice(-3000)}`);
    });
  }

  /**
   * A sample of the trigger's series in the gateway's /metrics (`nimbus_source_connected`, or
   * `nimbus_source_events_total` with its `result`); undefined when there is none.
   */
  async sourceSample(name: string, trigger: string, result?: string): Promise<number | undefined> {
    const metrics = await send(this.platform.url, '/metrics', { headers: admin });
    const line = metrics.text
      .split('\n')
      .find(
        (l) =>
          l.startsWith(`${name}{`) &&
          l.includes(`trigger="${trigger}"`) &&
          (result === undefined || l.includes(`result="${result}"`)),
      );
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  /** The trigger's nimbus_source_connected: 1, 0, or undefined when absent. */
  sourceConnected(trigger: string): Promise<number | undefined> {
    return this.sourceSample('nimbus_source_connected', trigger);
  }

  /** Until the trigger's health metric says `value` (1: its reader runs, so a change made now is read). */
  untilSource(trigger: string, value: 0 | 1, ms = 60_000): Promise<true> {
    return eventually(
      async () => ((await this.sourceConnected(trigger)) === value ? true : undefined),
      ms,
      `${trigger} to be ${value === 1 ? 'connected' : 'disconnected'}`,
    );
  }

  connected(trigger: string): Promise<true> {
    return this.untilSource(trigger, 1);
  }

  /** Persistent messages `{ bulk: i }` with message ids `bulk-<i>`, confirmed by the broker. */
  async publishJobs(queue: string, from: number, count: number): Promise<void> {
    const connection = await amqp.connect(this.rabbitmq.url);
    try {
      const channel = await connection.createConfirmChannel();
      for (let i = from; i < from + count; i++)
        channel.sendToQueue(queue, Buffer.from(JSON.stringify({ bulk: i })), {
          messageId: `bulk-${i}`,
          contentType: 'application/json',
          persistent: true,
        });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
  }

  /** QoS 1 messages `{ bulk: i }` on `sensors/room-<i>/temperature`, each PUBACKed by the broker. */
  async publishMqtt(from: number, count: number): Promise<void> {
    const client = await mqtt.connectAsync(this.mqtt.url, { protocolVersion: 5 });
    try {
      await Promise.all(
        Array.from({ length: count }, (_, k) =>
          client.publishAsync(`sensors/room-${from + k}/temperature`, JSON.stringify({ bulk: from + k }), {
            qos: 1,
          }),
        ),
      );
    } finally {
      await client.endAsync();
    }
  }

  /** Objects `<prefix><i>.jpg` uploaded to the polled store, `width` at a time. */
  async upload(client: S3Client, bucket: string, keys: readonly string[], width = 8): Promise<void> {
    for (let i = 0; i < keys.length; i += width)
      await Promise.all(
        keys
          .slice(i, i + width)
          .map((key) =>
            client.send(
              new PutObjectCommand({ Bucket: bucket, Key: key, Body: key, ContentType: 'image/jpeg' }),
            ),
          ),
      );
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.destroy();
    await this.platform?.stop();
    await Promise.all(
      [this.redis, this.nats, this.pushingStore, ...Object.values(this.servers)].map((s) => s?.stop()),
    );
    for (const d of [this.dir, this.records]) if (d !== '') await rm(d, { recursive: true, force: true });
  }
}
