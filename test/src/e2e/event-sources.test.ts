import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
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
import { admin, deadLetterOfEvent } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, startSecuredNats } from '../harness/nats.js';

/**
 * Appends each CloudEvent it receives to the file RECORD_FILE names (which outlives a gateway
 * killed mid-stream); GET lists them. Data with "fail" makes it answer 500.
 */
const RECORDER = `import { appendFileSync, readFileSync } from 'node:fs';
const file = process.env.RECORD_FILE;
export default async (event) => {
  if (event.method === 'GET') {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch {}
    return { seen: text.split('\\n').filter(Boolean).map((l) => JSON.parse(l)) };
  }
  const ce = event.cloudEvent;
  appendFileSync(file, JSON.stringify({ id: ce?.id, type: ce?.type, subject: ce?.subject, data: ce?.data }) + '\\n');
  if (ce?.data && ce.data.fail) return { statusCode: 500, body: 'cannot take this one' };
  return { ok: true };
};`;

interface Seen {
  id: string;
  type: string;
  subject?: string;
  data: Record<string, unknown>;
}

const NOTIFY_TOKEN = 'a-token-the-store-sends';
const PUSHING_KEYS = { accessKeyId: 'AKPUSHINGSTORE01', secretAccessKey: 'pushing-store-secret-key' };

const one = (fn: string) =>
  `scale:\n  min: 1\n  max: 1\nenv:\n  - name: RECORD_FILE\n    value: RECORDS/${fn}.jsonl`;
const FIXTURES = {
  'orders.yaml': inlineFunction(
    'orders',
    RECORDER,
    `${one('orders')}\ntriggers:\n  - name: db\n    postgres:\n      connection: { name: shop-db, key: url }\n      tables: [public.orders]`,
  ),
  'jobs.yaml': inlineFunction(
    'jobs',
    RECORDER,
    `${one('jobs')}\ntriggers:\n  - name: queue\n    rabbitmq:\n      connection: { name: broker, key: url }\n      queue: jobs\n      declare: true\n      prefetch: 4\n      maxDeliver: 2\n      backoff: [100ms]`,
  ),
  'sensors.yaml': inlineFunction(
    'sensors',
    RECORDER,
    `${one('sensors')}\ntriggers:\n  - name: telemetry\n    mqtt:\n      connection: { name: broker-mqtt, key: url }\n      topics: ['sensors/+/temperature', 'alerts/#']`,
  ),
  'notified.yaml': inlineFunction(
    'notified',
    RECORDER,
    `${one('notified')}\ntriggers:\n  - name: s3\n    s3:\n      endpoint: PUSHING\n      bucket: pushed\n      mode: notify\n      credentials: { secret: pushing-store }\n      notifyToken: { name: pushing-store, key: token }`,
  ),
  'uploads.yaml': inlineFunction(
    'uploads',
    RECORDER,
    `${one('uploads')}\ntriggers:\n  - name: bucket\n    s3:\n      endpoint: ENDPOINT\n      bucket: uploads\n      mode: poll\n      pollInterval: 300ms\n      suffix: .jpg\n      credentials: { secret: store }`,
  ),
};

describe('event sources end to end: PostgreSQL, RabbitMQ and S3 through a local-mode gateway', function () {
  this.timeout(180_000);
  let redis: RedisServer;
  let nats: SecuredNats;
  let postgres: PostgresServer;
  let rabbit: RabbitMqServer;
  let s3: S3Server;
  let mosquitto: MosquittoServer;
  /** A second store, started once the gateway listens: it pushes its notifications there. */
  let pushing: S3Server | undefined;
  let uploads: S3Client;
  let dir: string;
  let records: string;
  let pushingPort: number;
  let platform: LocalModeProcess;
  let env: Record<string, string>;

  before(async () => {
    [redis, nats, postgres, rabbit, s3, mosquitto] = await Promise.all([
      startRedisServer(),
      startSecuredNats(),
      startPostgresServer(),
      startRabbitMqServer(),
      startS3Server(),
      startMosquittoServer(),
    ]);
    await postgres.sql('CREATE TABLE orders (id int PRIMARY KEY, item text, qty int)');
    uploads = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    await uploads.send(new CreateBucketCommand({ Bucket: 'uploads' }));
    records = await mkdtemp(join(tmpdir(), 'nimbus-records-'));
    pushingPort = await freePort();
    dir = await functionsFolder(
      Object.fromEntries(
        Object.entries(FIXTURES).map(([file, text]) => [
          file,
          text
            .replace('ENDPOINT', s3.endpoint)
            .replace('PUSHING', `http://127.0.0.1:${pushingPort}`)
            .replace('RECORDS', records),
        ]),
      ),
    );
    env = {
      NIMBUS_REDIS_URL: redis.url,
      ...nats.env('local'),
      NIMBUS_WARM_POOL_SIZE: '0',
      [secretEnvName('shop-db', 'url')]: postgres.url(),
      [secretEnvName('broker', 'url')]: rabbit.url,
      [secretEnvName('store', 'accessKeyId')]: s3.accessKeyId,
      [secretEnvName('store', 'secretAccessKey')]: s3.secretAccessKey,
      [secretEnvName('broker-mqtt', 'url')]: mosquitto.url,
      [secretEnvName('pushing-store', 'accessKeyId')]: PUSHING_KEYS.accessKeyId,
      [secretEnvName('pushing-store', 'secretAccessKey')]: PUSHING_KEYS.secretAccessKey,
      [secretEnvName('pushing-store', 'token')]: NOTIFY_TOKEN,
    };
    platform = await LocalModeProcess.start(dir, env);
  });

  after(async function () {
    this.timeout(60_000);
    uploads?.destroy();
    await platform?.stop();
    await Promise.all([
      nats?.stop(),
      redis?.stop(),
      postgres?.stop(),
      rabbit?.stop(),
      s3?.stop(),
      mosquitto?.stop(),
      pushing?.stop(),
    ]);
    for (const d of [dir, records]) if (d !== undefined) await rm(d, { recursive: true, force: true });
  });

  const seenBy = async (fn: string): Promise<Seen[]> => {
    const reply = await send(platform.url, `/function/${fn}`);
    assert.equal(reply.status, 200, reply.text);
    return reply.json<{ seen: Seen[] }>().seen;
  };

  const waitFor = (fn: string, what: string, enough: (seen: Seen[]) => boolean) =>
    eventually(
      async () => {
        const seen = await seenBy(fn);
        return enough(seen) ? seen : undefined;
      },
      60_000,
      what,
    ).catch((err: Error) => {
      const said = platform.logs.filter(
        (l) => l.level === 'warn' || l.level === 'error' || /source|trigger/.test(String(l.msg)),
      );
      throw new Error(`${err.message}; the gateway said: ${JSON.stringify(said).slice(0, 3000)}`);
    });

  /** Until the source's reader runs (its slot or queue exists), a change made now may predate it. */
  const connected = (trigger: string) =>
    eventually(
      async () => {
        const metrics = await send(platform.url, '/metrics', { headers: admin });
        const line = metrics.text
          .split('\n')
          .find((l) => l.startsWith('nimbus_source_connected{') && l.includes(`trigger="${trigger}"`));
        return line?.endsWith(' 1') ? true : undefined;
      },
      60_000,
      `${trigger} to connect`,
    );

  it('row changes of a table reach the function in commit order, with new and old values', async () => {
    await connected('db');
    await postgres.sql(
      "INSERT INTO orders VALUES (1, 'tea', 2); INSERT INTO orders VALUES (2, 'cake', 1); " +
        'UPDATE orders SET qty = 3 WHERE id = 1; DELETE FROM orders WHERE id = 2;',
    );
    const seen = await waitFor('orders', 'four row changes', (s) => s.length >= 4);
    assert.deepEqual(
      seen.map((e) => e.type),
      [
        'dev.nimbus.postgres.insert',
        'dev.nimbus.postgres.insert',
        'dev.nimbus.postgres.update',
        'dev.nimbus.postgres.delete',
      ],
    );
    assert.equal(seen[0]?.subject, 'public.orders');
    assert.deepEqual(seen[2]?.data.new, { id: 1, item: 'tea', qty: 3 });
    assert.deepEqual(seen[3]?.data.old, { id: 2 });
    assert.equal(new Set(seen.map((e) => e.id)).size, 4);
  });

  it('queue messages are delivered and acked; one that keeps failing is dead-lettered, not lost', async () => {
    await connected('queue');
    const connection = await amqp.connect(rabbit.url);
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue('jobs', Buffer.from('{"job":1}'), {
      messageId: 'job-1',
      contentType: 'application/json',
    });
    channel.sendToQueue('jobs', Buffer.from('{"fail":true}'), {
      messageId: 'job-poison',
      contentType: 'application/json',
    });
    await channel.waitForConfirms();
    await connection.close();
    const seen = await waitFor('jobs', 'the job and two attempts of the poison', (s) => s.length >= 3);
    assert.equal(seen.filter((e) => e.id === 'job-1').length, 1);
    assert.equal(seen.filter((e) => e.id === 'job-poison').length, 2, 'maxDeliver 2');
    const letter = await deadLetterOfEvent(platform.url, 'jobs', 'job-poison', 20_000);
    assert.equal(letter.attempts, 2);
    assert.match(letter.lastError, /500/);
    const counts = await rabbit.queueCounts('jobs');
    assert.deepEqual([counts?.ready, counts?.unacked], [0, 0], 'nothing left in the queue');
  });

  it('objects uploaded to a polled bucket become events with key, size and ETag; filtered keys do not', async () => {
    await connected('bucket');
    await uploads.send(
      new PutObjectCommand({ Bucket: 'uploads', Key: 'cats/1.jpg', Body: 'meow', ContentType: 'image/jpeg' }),
    );
    await uploads.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'notes.txt', Body: 'not a picture' }));
    const [event, ...more] = await waitFor('uploads', 'the upload', (s) => s.length >= 1);
    assert.equal(event?.type, 'dev.nimbus.s3.object.created');
    assert.equal(event?.subject, 'cats/1.jpg');
    assert.equal(event?.data.size, 4);
    assert.equal(event?.data.bucket, 'uploads');
    assert.match(String(event?.data.etag), /^"?[0-9a-f]{32}"?$/);
    assert.deepEqual(more, []);
  });

  it('MQTT messages on matching topic filters become events; others do not', async () => {
    await connected('telemetry');
    const client = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 5 });
    await client.publishAsync('sensors/kitchen/temperature', '{"celsius":21}', { qos: 1 });
    await client.publishAsync('sensors/kitchen/humidity', '{"percent":40}', { qos: 1 });
    await client.publishAsync('alerts/fire/kitchen', '{"alarm":true}', { qos: 1 });
    await client.endAsync();
    const seen = await waitFor('sensors', 'two matching messages', (s) => s.length >= 2);
    assert.deepEqual(
      seen.map((e) => [e.type, e.subject, e.data]),
      [
        ['dev.nimbus.mqtt.message', 'sensors/kitchen/temperature', { celsius: 21 }],
        ['dev.nimbus.mqtt.message', 'alerts/fire/kitchen', { alarm: true }],
      ],
    );
  });

  it('a store that pushes S3 notifications to the gateway: uploads become events; a forged push is refused', async () => {
    const url = `${platform.url}/webhook/default/notified/s3?token=${NOTIFY_TOKEN}`;
    const forged = await send(platform.url, '/webhook/default/notified/s3?token=wrong', {
      method: 'POST',
      body: '{"Records":[]}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(forged.status, 401, forged.text);
    pushing = await startS3Server({ ...PUSHING_KEYS, port: pushingPort, eventWebhookUrl: url });
    const client = new S3Client({
      endpoint: pushing.endpoint,
      region: pushing.region,
      forcePathStyle: true,
      credentials: PUSHING_KEYS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    await client.send(new CreateBucketCommand({ Bucket: 'pushed' }));
    await client.send(new PutObjectCommand({ Bucket: 'pushed', Key: 'report.pdf', Body: 'pdf!' }));
    client.destroy();
    const [event] = await waitFor('notified', 'the pushed upload', (s) => s.length >= 1);
    assert.equal(event?.type, 'dev.nimbus.s3.object.created');
    assert.equal(event?.subject, 'report.pdf');
    assert.equal(event?.data.size, 4);
  });

  it('a gateway killed mid-stream loses nothing: rows, queue messages and MQTT messages all arrive, each by one id', async () => {
    for (const trigger of ['db', 'queue', 'telemetry']) await connected(trigger);
    const n = 200;
    const later = 50;
    const publishBulk = async (from: number, count: number) => {
      const connection = await amqp.connect(rabbit.url);
      const channel = await connection.createConfirmChannel();
      for (let i = from; i < from + count; i++)
        channel.sendToQueue('jobs', Buffer.from(JSON.stringify({ bulk: i })), {
          messageId: `bulk-${i}`,
          contentType: 'application/json',
          persistent: true,
        });
      await channel.waitForConfirms();
      await connection.close();
      const client = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 5 });
      await Promise.all(
        Array.from({ length: count }, (_, k) =>
          client.publishAsync(`sensors/room-${from + k}/temperature`, JSON.stringify({ bulk: from + k }), {
            qos: 1,
          }),
        ),
      );
      await client.endAsync();
    };
    const before = (await seenBy('orders')).length;
    const writing = postgres.sql(
      `INSERT INTO orders SELECT g, 'bulk', 1 FROM generate_series(100, ${99 + n}) g`,
    );
    await publishBulk(0, n);
    // Killed once the first rows are in, while the rest of every source is still on its way.
    await waitFor('orders', 'the first bulk rows', (s) => s.length > before);
    await platform.kill();
    await writing;
    // And more while no gateway runs: the queue and the MQTT session keep them.
    await publishBulk(n, later);
    platform = await LocalModeProcess.start(dir, env);
    // The new gateway takes the readers' leases once the dead one's lapse, and JetStream gives
    // it the deliveries the dead one never acknowledged: every event at least once.
    const rows = (s: Seen[]) =>
      new Set(
        s.flatMap((e) =>
          (e.data.new as { item?: string; id?: number } | null)?.item === 'bulk' ? [e.id] : [],
        ),
      );
    const bulk = (s: Seen[]) => new Set(s.flatMap((e) => (typeof e.data.bulk === 'number' ? [e.id] : [])));
    for (const [fn, distinct, count] of [
      ['orders', rows, n],
      ['jobs', bulk, n + later],
      ['sensors', bulk, n + later],
    ] as const) {
      const seen = await waitFor(
        fn,
        `${count} events of ${fn} after the restart`,
        (s) => distinct(s).size >= count,
      );
      assert.equal(distinct(seen).size, count, `${fn}: every event, by ${count} distinct ids`);
      // At least once: a repeat carries the same id and the same data, so a handler dedupes on ce-id.
      const byId = new Map<string, string>();
      for (const e of seen) {
        const data = JSON.stringify(e.data);
        assert.equal(byId.get(e.id) ?? data, data, `${fn}: ${e.id} came again with other data`);
        byId.set(e.id, data);
      }
    }
  });
});
