import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { secretEnvName } from '@nimbus/gateway';
import { type S3Server, startS3Server } from '@nimbus/testkit';
import { Lane } from '../../async-load.js';
import { drive } from '../drive.js';
import type { SourceDriver } from '../source-driver.js';
import { LIVE_PUTS_PER_S, putStamped, s3Client, stampedKey } from './s3.js';

const BUCKET = 'bench-pushed';
/** This run's keys of the pushing store and the token it presents; random, never the machine's. */
const KEYS = {
  accessKeyId: `AK${randomBytes(8).toString('hex').toUpperCase()}`,
  secretAccessKey: randomBytes(20).toString('base64url'),
};
const TOKEN = randomBytes(18).toString('base64url');

/** A notify trigger on `endpoint` whose store presents TOKEN (`?token=`, as versitygw's webhook URL carries it). */
function notifyTrigger(endpoint: string, secret: string): string {
  return `- name: s3\n  s3:\n    endpoint: ${endpoint}\n    bucket: ${BUCKET}\n    mode: notify\n    credentials: { secret: ${secret} }\n    notifyToken: { name: ${secret}, key: token }`;
}

/** One record in the shape versitygw (v1.8.0) POSTs for a put: `s3:` before the name, its one global configuration. */
export function notificationBody(key: string, n: number): string {
  const at = new Date().toISOString();
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.2',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: at,
        eventName: 's3:ObjectCreated:Put',
        userIdentity: { PrincipalId: KEYS.accessKeyId },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': `${n}`, 'x-amz-id-2': `${n}` },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'webhook-global',
          bucket: {
            name: BUCKET,
            ownerIdentity: { PrincipalId: KEYS.accessKeyId },
            arn: `arn:aws:s3:::${BUCKET}`,
          },
          object: {
            key,
            size: 1,
            eTag: '"9dd4e461268c8034f5c8564e155c67a6"',
            versionId: '',
            sequencer: (Date.now() * 1_000 + (n % 1_000)).toString(16).toUpperCase(),
          },
        },
      },
    ],
  });
}

/**
 * Notifications POSTed straight to the trigger's URL, in the shape and with the token versitygw
 * sends, each resolved at the 202 (stored): what Nimbus takes, without a store's put rate in the
 * way. The trigger names the shared store (its bucket checked at start-up) but nothing is put
 * there. The baseline is the gateway's plain /function/ route with the same keys as CloudEvent
 * headers, each resolved when the function has answered.
 */
export function s3NotifyDriver(store: S3Server): SourceDriver {
  const name = 's3-notify';
  const lanes = 32;
  let open: Lane[] = [];
  const post = (lane: number, ...request: Parameters<Lane['expect']>) =>
    (open[lane] as Lane).expect(...request);
  return {
    name,
    origin: 'key',
    trigger: notifyTrigger(store.endpoint, 'bench-notified'),
    env: {
      [secretEnvName('bench-notified', 'accessKeyId')]: store.accessKeyId,
      [secretEnvName('bench-notified', 'secretAccessKey')]: store.secretAccessKey,
      [secretEnvName('bench-notified', 'token')]: TOKEN,
    },
    saturationEvents: 5_000,
    lanes,
    baselineNote: 'plain POST /function/ with the same keys',
    originPid: () => undefined,
    async prepare() {
      const setup = s3Client(store);
      await setup.send(new CreateBucketCommand({ Bucket: BUCKET }));
      setup.destroy();
    },
    async connect(gatewayUrl) {
      const port = Number(new URL(gatewayUrl).port);
      open = Array.from({ length: lanes }, () => new Lane(port));
    },
    async publish(phase, n, lane) {
      const body = notificationBody(stampedKey(phase, n), n);
      await post(
        lane,
        `/webhook/default/${name}/s3?token=${TOKEN}`,
        body,
        'content-type: application/json\r\n',
        202,
      );
    },
    async armBaseline() {},
    async baseline(count) {
      const headers = (n: number) =>
        [
          'content-type: application/json',
          'ce-specversion: 1.0',
          `ce-id: plain-${n}`,
          'ce-source: /bench',
          'ce-type: dev.nimbus.s3.object.created',
          `ce-subject: ${stampedKey('plain', n)}`,
          '',
        ].join('\r\n');
      const driven = await drive(count, lanes, (n, lane) =>
        post(lane, `/function/${name}`, '{}', headers(n), 200),
      );
      if (driven.failed > 0) throw new Error(`plain POSTs: ${driven.failed} failed: ${driven.firstError}`);
      return (driven.sent / (driven.lastAt - driven.firstAt)) * 1000;
    },
    async close() {
      for (const lane of open) lane.close();
    },
  };
}

/**
 * Objects put into a store that pushes its S3 event notifications to the trigger's URL (versitygw
 * has one global webhook, so this store is its own, started once the gateway listens, on `port`
 * chosen before the trigger is written): the whole path, bounded by the store's put rate. The
 * baseline is that rate without a webhook: the same puts into `plain`, a store that pushes nothing.
 */
export function s3NotifyLiveDriver(port: number, plain: S3Server): SourceDriver {
  const name = 's3-notify-live';
  let server: S3Server | undefined;
  let client: S3Client | undefined;
  let plainClient: S3Client | undefined;
  return {
    name,
    origin: 'key',
    trigger: notifyTrigger(`http://127.0.0.1:${port}`, 'bench-pushing'),
    env: {
      [secretEnvName('bench-pushing', 'accessKeyId')]: KEYS.accessKeyId,
      [secretEnvName('bench-pushing', 'secretAccessKey')]: KEYS.secretAccessKey,
      [secretEnvName('bench-pushing', 'token')]: TOKEN,
    },
    saturationEvents: 1_000,
    lanes: 32,
    pacedRatePerS: LIVE_PUTS_PER_S,
    baselineNote: 'puts/s into a store without a webhook',
    originPid: () => server?.pid,
    async prepare() {},
    async connect(gatewayUrl) {
      server = await startS3Server({
        ...KEYS,
        port,
        eventWebhookUrl: `${gatewayUrl}/webhook/default/${name}/s3?token=${TOKEN}`,
        eventFilter: { 's3:ObjectCreated:*': true },
      });
      client = s3Client(server);
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      plainClient = s3Client(plain);
      await plainClient.send(new CreateBucketCommand({ Bucket: 'bench-plain' }));
    },
    async publish(phase, n) {
      if (client === undefined) throw new Error(`${name}: not connected`);
      await putStamped(client, BUCKET, phase, n);
    },
    async armBaseline() {},
    async baseline(count) {
      const to = plainClient;
      if (to === undefined) throw new Error(`${name}: not connected`);
      const driven = await drive(count, 32, (n) => putStamped(to, 'bench-plain', 'plain', n));
      if (driven.failed > 0) throw new Error(`plain puts: ${driven.failed} failed: ${driven.firstError}`);
      return (driven.sent / (driven.lastAt - driven.firstAt)) * 1000;
    },
    async close() {
      client?.destroy();
      plainClient?.destroy();
      await server?.stop();
    },
  };
}
