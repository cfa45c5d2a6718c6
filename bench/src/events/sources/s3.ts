import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { secretEnvName } from '@nimbus/gateway';
import type { S3Server } from '@nimbus/testkit';
import type { SourceDriver } from '../source-driver.js';

const BUCKET = 'bench-events';
/** How often the poller lists the bucket: the floor under the paced phase's latency. */
const POLL_INTERVAL = '100ms';

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

/** Puts event `n` of `phase` under a key that ends with the time the put is sent: `<phase>/<n>-<ms>.bin`. */
export async function putStamped(client: S3Client, bucket: string, phase: string, n: number): Promise<void> {
  const key = `${phase}/${String(n).padStart(6, '0')}-${Date.now()}.bin`;
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
}

/**
 * Objects put into a polled bucket, each resolved when the store answers; the key ends with the
 * time the put was sent (`<phase>/<n>-<ms>.bin`), the origin time, since the event carries no body
 * and ce-time is LastModified, in whole seconds. The baseline is ListObjectsV2 over the same keys.
 */
export function s3PollDriver(server: S3Server): SourceDriver {
  let client: S3Client | undefined;
  const open = () => s3Client(server);
  return {
    name: 's3-poll',
    origin: 'key',
    trigger: `- name: bucket\n  s3:\n    endpoint: ${server.endpoint}\n    bucket: ${BUCKET}\n    mode: poll\n    pollInterval: ${POLL_INTERVAL}\n    events: [created]\n    credentials: { secret: bench-store }`,
    env: {
      [secretEnvName('bench-store', 'accessKeyId')]: server.accessKeyId,
      [secretEnvName('bench-store', 'secretAccessKey')]: server.secretAccessKey,
    },
    saturationEvents: 1_000,
    lanes: 32,
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
      if (client === undefined) throw new Error('s3: not connected');
      await putStamped(client, BUCKET, phase, n);
    },
    async armBaseline() {},
    async baseline(count) {
      if (client === undefined) throw new Error('s3: not connected');
      const started = performance.now();
      let listed = 0;
      let token: string | undefined;
      // Bounded in pages too: a store that kept saying "truncated" with no keys would loop forever.
      const maxPages = Math.ceil(count / 1_000) * 2 + 10;
      for (let pages = 0; pages < maxPages; pages++) {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'sat/', ContinuationToken: token }),
        );
        listed += page.KeyCount ?? 0;
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        if (token === undefined) break;
      }
      if (listed < count) throw new Error(`ListObjectsV2 found ${listed} of ${count} keys`);
      return (listed / (performance.now() - started)) * 1000;
    },
    async close() {
      client?.destroy();
    },
  };
}
