import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { secretEnvName } from '@nimbus/gateway';
import { type S3Server, startS3Server } from '@nimbus/testkit';
import type { SourceDriver } from '../source-driver.js';
import { putStamped, s3Client } from './s3.js';

const NAME = 's3-notify';
const BUCKET = 'bench-pushed';
/** This run's keys of the pushing store and the token it presents; random, never the machine's. */
const KEYS = {
  accessKeyId: `AK${randomBytes(8).toString('hex').toUpperCase()}`,
  secretAccessKey: randomBytes(20).toString('base64url'),
};
const TOKEN = randomBytes(18).toString('base64url');

/**
 * Objects put into a store that pushes its S3 event notifications to the trigger's URL (versitygw
 * has one global webhook, so this store is its own, started once the gateway listens, on `port`
 * chosen before the trigger is written). The origin time is in the key, as for the poller. No bare
 * client reads pushed events, so there is no baseline: the store's own put rate is in the table.
 */
export function s3NotifyDriver(port: number): SourceDriver {
  let server: S3Server | undefined;
  let client: S3Client | undefined;
  return {
    name: NAME,
    origin: 'key',
    trigger: `- name: s3\n  s3:\n    endpoint: http://127.0.0.1:${port}\n    bucket: ${BUCKET}\n    mode: notify\n    credentials: { secret: bench-pushing }\n    notifyToken: { name: bench-pushing, key: token }`,
    env: {
      [secretEnvName('bench-pushing', 'accessKeyId')]: KEYS.accessKeyId,
      [secretEnvName('bench-pushing', 'secretAccessKey')]: KEYS.secretAccessKey,
      [secretEnvName('bench-pushing', 'token')]: TOKEN,
    },
    saturationEvents: 1_000,
    lanes: 32,
    baselineNote: 'none (pushed)',
    originPid: () => server?.pid,
    async prepare() {},
    async connect(gatewayUrl) {
      server = await startS3Server({
        ...KEYS,
        port,
        eventWebhookUrl: `${gatewayUrl}/webhook/default/${NAME}/s3?token=${TOKEN}`,
        eventFilter: { 's3:ObjectCreated:*': true },
      });
      client = s3Client(server);
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    },
    async publish(phase, n) {
      if (client === undefined) throw new Error('s3-notify: not connected');
      await putStamped(client, BUCKET, phase, n);
    },
    async armBaseline() {},
    async baseline() {
      return null;
    },
    async close() {
      client?.destroy();
      await server?.stop();
    },
  };
}
