import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { secretEnvName } from '@nimbus/gateway';
import type { RedisServer, S3Server } from '@nimbus/testkit';
import { type Driven, drive } from '../drive.js';
import type { LocalGateway } from '../local-gateway.js';
import type { SourceDriver } from '../source-driver.js';

const run = promisify(execFile);

const NAME = 's3-poll';
const BUCKET = 'bench-events';
/** How often the poller lists the bucket: the floor under the paced phase's latency. */
const POLL_INTERVAL = '100ms';
/** Objects put while the reader is held off, then drained: the saturation phase. */
const BACKLOG = 3_000;
/** Live puts for the latency: what versitygw takes here with room to spare (it took 78-281 puts/s on 2 busy cores). */
export const LIVE_PUTS_PER_S = 50;
/**
 * The trigger's reader lease, as the gateway's source runner keeps it in Redis (a claim of
 * @nimbus/store, `<root>:claim:source-reader:<namespace>/<function>/<trigger>`).
 */
const LEASE = `nimbus:claim:source-reader:default/${NAME}/bucket`;
const READER_WAIT_MS = 30_000;

/** A path-style client of `server` with its root keys. */
export function s3Client(server: S3Server): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/** The key of event `n` of `phase`, ending with the time it is sent, the origin time the recorder reads: `<phase>/<n>-<ms>.bin`. */
export const stampedKey = (phase: string, n: number): string =>
  `${phase}/${String(n).padStart(6, '0')}-${Date.now()}.bin`;

/** Puts event `n` of `phase` under its stamped key. */
export async function putStamped(client: S3Client, bucket: string, phase: string, n: number): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: stampedKey(phase, n), Body: 'x' }));
}

/**
 * A polled bucket. Saturation is a backlog, so that it measures the poller and not the store's
 * put rate: the bench takes the trigger's reader lease (as a gateway taking over would), waits
 * for the gateway to stop its reader, puts BACKLOG objects, lets the lease go, and times from the
 * reader's start (its log line) to the last handler start. The key ends with the time its put was
 * sent (`<phase>/<n>-<ms>.bin`), the origin time, since the event carries no body and ce-time is
 * LastModified, in whole seconds. The baseline is ListObjectsV2 over the backlog's keys; then the
 * backlog is deleted, so that the paced phase's passes list a small bucket (each pass lists every
 * key: a bucket of N keys adds N / that rate to every event's latency).
 */
export function s3PollDriver(server: S3Server, redis: RedisServer): SourceDriver {
  let client: S3Client | undefined;
  const open = () => s3Client(server);
  const connected = (): S3Client => {
    if (client === undefined) throw new Error('s3: not connected');
    return client;
  };
  const redisCli = (...args: string[]) => run('redis-cli', ['-u', redis.url, ...args], { timeout: 10_000 });
  const readerLine = (gateway: LocalGateway, msg: string) =>
    gateway.logged((line) => line.msg === msg && line.trigger === `default/${NAME}/bucket`, READER_WAIT_MS);
  return {
    name: NAME,
    origin: 'key',
    trigger: `- name: bucket\n  s3:\n    endpoint: ${server.endpoint}\n    bucket: ${BUCKET}\n    mode: poll\n    pollInterval: ${POLL_INTERVAL}\n    events: [created]\n    credentials: { secret: bench-store }`,
    env: {
      [secretEnvName('bench-store', 'accessKeyId')]: server.accessKeyId,
      [secretEnvName('bench-store', 'secretAccessKey')]: server.secretAccessKey,
    },
    saturationEvents: BACKLOG,
    lanes: 32,
    pacedRatePerS: LIVE_PUTS_PER_S,
    baselineNote: 'ListObjectsV2 pages over the same keys',
    originPid: () => server.pid,
    async prepare() {
      const setup = open();
      await setup.send(new CreateBucketCommand({ Bucket: BUCKET }));
      setup.destroy();
    },
    async connect() {
      client = open();
    },
    async publish(phase, n) {
      await putStamped(connected(), BUCKET, phase, n);
    },
    async saturate(count, gateway): Promise<Driven> {
      const stopped = readerLine(gateway, 'stopped an event source');
      let uploaded: Driven;
      try {
        // Bounded: the lease lapses by itself in 5 minutes, and is let go below whatever happens.
        await redisCli('SET', LEASE, 'bench-backlog', 'PX', '300000');
        await stopped;
        uploaded = await drive(count, 32, (n) => putStamped(connected(), BUCKET, 'sat', n));
      } catch (error) {
        stopped.catch(() => undefined);
        await redisCli('DEL', LEASE).catch(() => undefined);
        throw error;
      }
      const started = readerLine(gateway, 'started an event source');
      await redisCli('DEL', LEASE);
      const line = await started;
      return { ...uploaded, releasedAt: Date.parse(String(line.time)) };
    },
    async armBaseline() {},
    async baseline(count) {
      const s3 = connected();
      const started = performance.now();
      const keys: string[] = [];
      let token: string | undefined;
      // Bounded in pages too: a store that kept saying "truncated" with no keys would loop forever.
      const maxPages = Math.ceil(count / 1_000) * 2 + 10;
      for (let pages = 0; pages < maxPages; pages++) {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'sat/', ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        if (token === undefined) break;
      }
      const rate = (keys.length / (performance.now() - started)) * 1000;
      for (let i = 0; i < keys.length; i += 1_000) {
        const batch = keys.slice(i, i + 1_000).map((Key) => ({ Key }));
        await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: batch, Quiet: true } }));
      }
      if (keys.length < count) throw new Error(`ListObjectsV2 found ${keys.length} of ${count} keys`);
      return rate;
    },
    async close() {
      client?.destroy();
    },
  };
}
