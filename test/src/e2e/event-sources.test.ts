import assert from 'node:assert/strict';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { send } from '@nimbus/testkit';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { deadLetterOfEvent } from '../harness/async-calls.js';
import {
  EventSourceFixture,
  NOTIFY_TOKEN,
  SECRETS,
  type Seen,
  assertOncePerId,
  bulkIds,
  recordingFunction,
  sourceTrigger,
} from '../harness/event-source-fixture.js';

/**
 * The in-order trigger's promise across a kill, seen from the function: no bulk row starts before
 * every row committed before it (ids from `first` up, one transaction) has started at least once.
 * Rows the dead gateway had run but not acked (its line acks in batches) come again, in order.
 */
function assertCommitOrder(seen: readonly Seen[], first: number): void {
  let reached = first - 1;
  const ids: number[] = [];
  for (const e of seen) {
    const row = e.data.new as { id?: number; item?: string } | null;
    if (row?.item !== 'bulk' || row.id === undefined) continue;
    ids.push(row.id);
    assert.ok(row.id <= reached + 1, `row ${row.id} ran before row ${reached + 1}: ${ids.join(' ')}`);
    reached = Math.max(reached, row.id);
  }
}

describe('event sources end to end: PostgreSQL, RabbitMQ and S3 through a local-mode gateway', function () {
  this.timeout(180_000);
  let fixture: EventSourceFixture;
  let uploads: S3Client;

  before(async () => {
    fixture = await EventSourceFixture.start({
      prepare: async (f) => {
        await f.postgres.sql('CREATE TABLE orders (id int PRIMARY KEY, item text, qty int)');
        uploads = f.storeClient();
        await uploads.send(new CreateBucketCommand({ Bucket: 'uploads' }));
      },
      functions: (at) => ({
        'orders.yaml': recordingFunction(
          at,
          'orders',
          sourceTrigger('db', 'postgres', { tables: '[public.orders]' }),
        ),
        'jobs.yaml': recordingFunction(
          at,
          'jobs',
          sourceTrigger('queue', 'rabbitmq', {
            queue: 'jobs',
            declare: true,
            prefetch: 4,
            maxDeliver: 2,
            backoff: '[100ms]',
          }),
        ),
        'sensors.yaml': recordingFunction(
          at,
          'sensors',
          sourceTrigger('telemetry', 'mqtt', { topics: "['sensors/+/temperature', 'alerts/#']" }),
        ),
        'notified.yaml': recordingFunction(
          at,
          'notified',
          `  - name: s3\n    s3:\n      endpoint: ${at.pushing}\n      bucket: pushed\n      mode: notify\n      credentials: { secret: ${SECRETS.pushingStore} }\n      notifyToken: { name: ${SECRETS.pushingStore}, key: token }`,
        ),
        'uploads.yaml': recordingFunction(
          at,
          'uploads',
          `  - name: bucket\n    s3:\n      endpoint: ${at.s3}\n      bucket: uploads\n      mode: poll\n      pollInterval: 300ms\n      suffix: .jpg\n      credentials: { secret: ${SECRETS.s3} }`,
        ),
      }),
    });
  });

  after(async function () {
    this.timeout(60_000);
    await fixture?.stop();
  });

  const seenBy = (fn: string) => fixture.seenBy(fn);
  const waitFor = (fn: string, what: string, enough: (seen: Seen[]) => boolean) =>
    fixture.waitFor(fn, what, enough);
  /** Until the source's reader runs (its slot or queue exists), a change made now may predate it. */
  const connected = (trigger: string) => fixture.connected(trigger);

  it('row changes of a table reach the function in commit order, with new and old values', async () => {
    await connected('db');
    await fixture.postgres.sql(
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
    const connection = await amqp.connect(fixture.rabbitmq.url);
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
    const letter = await deadLetterOfEvent(fixture.platform.url, 'jobs', 'job-poison', 20_000);
    assert.equal(letter.attempts, 2);
    assert.match(letter.lastError, /500/);
    const counts = await fixture.rabbitmq.queueCounts('jobs');
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
    const client = await mqtt.connectAsync(fixture.mqtt.url, { protocolVersion: 5 });
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
    const path = `/webhook/default/notified/s3?token=${NOTIFY_TOKEN}`;
    const forged = await send(fixture.platform.url, '/webhook/default/notified/s3?token=wrong', {
      method: 'POST',
      body: '{"Records":[]}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(forged.status, 401, forged.text);
    const client = await fixture.startPushingStore(path);
    await client.send(new CreateBucketCommand({ Bucket: 'pushed' }));
    await client.send(new PutObjectCommand({ Bucket: 'pushed', Key: 'report.pdf', Body: 'pdf!' }));
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
      await fixture.publishJobs('jobs', from, count);
      await fixture.publishMqtt(from, count);
    };
    const before = (await seenBy('orders')).length;
    const writing = fixture.postgres.sql(
      `INSERT INTO orders SELECT g, 'bulk', 1 FROM generate_series(100, ${99 + n}) g`,
    );
    await publishBulk(0, n);
    // Killed once the first rows are in, while the rest of every source is still on its way.
    await waitFor('orders', 'the first bulk rows', (s) => s.length > before);
    await fixture.killGateway();
    await writing;
    // And more while no gateway runs: the queue and the MQTT session keep them.
    await publishBulk(n, later);
    await fixture.startGateway();
    // The new gateway takes the readers' leases once the dead one's lapse, and JetStream gives
    // it the deliveries the dead one never acknowledged: every event at least once.
    const rows = (s: Seen[]) =>
      new Set(
        s.flatMap((e) =>
          (e.data.new as { item?: string; id?: number } | null)?.item === 'bulk' ? [e.id] : [],
        ),
      );
    for (const [fn, distinct, count] of [
      ['orders', rows, n],
      ['jobs', bulkIds, n + later],
      ['sensors', bulkIds, n + later],
    ] as const) {
      const seen = await waitFor(
        fn,
        `${count} events of ${fn} after the restart`,
        (s) => distinct(s).size >= count,
      );
      assertOncePerId(fn, seen, distinct(seen), count);
      if (fn === 'orders') assertCommitOrder(seen, 100);
    }
  });
});
