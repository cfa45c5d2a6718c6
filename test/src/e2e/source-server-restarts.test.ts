import assert from 'node:assert/strict';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { eventually } from '@nimbus/testkit';
import {
  EventSourceFixture,
  SECRETS,
  type Seen,
  assertOncePerId,
  bulkIds,
  recordingFunction,
  sourceTrigger,
} from '../harness/event-source-fixture.js';

/** Events per source: half before the server's restart, half after. */
const HALF = 100;

/** `count` rows `(id, 'restart', i)` from `from`, committed in transactions of ten. */
function rowsSql(from: number, count: number): string {
  const transactions: string[] = [];
  for (let i = from; i < from + count; i += 10)
    transactions.push(
      `BEGIN; INSERT INTO orders SELECT g, 'restart', 1 FROM generate_series(${i}, ${Math.min(i + 9, from + count - 1)}) g; COMMIT;`,
    );
  return transactions.join(' ');
}

const restartRows = (seen: readonly Seen[]): Set<string> =>
  new Set(seen.flatMap((e) => ((e.data.new as { item?: string } | null)?.item === 'restart' ? [e.id] : [])));

const restartKeys = (seen: readonly Seen[]): Set<string> =>
  new Set(seen.flatMap((e) => (String(e.data.key).startsWith('restart/') ? [e.id] : [])));

describe('source servers restarted mid-stream, through a local-mode gateway: every event arrives, once by id', function () {
  this.timeout(240_000);
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
          sourceTrigger('queue', 'rabbitmq', { queue: 'jobs', declare: true, prefetch: 4 }),
        ),
        'sensors.yaml': recordingFunction(
          at,
          'sensors',
          sourceTrigger('telemetry', 'mqtt', { topics: "['sensors/+/temperature']" }),
        ),
        'uploads.yaml': recordingFunction(
          at,
          'uploads',
          `  - name: bucket\n    s3:\n      endpoint: ${at.s3}\n      bucket: uploads\n      mode: poll\n      pollInterval: 300ms\n      credentials: { secret: ${SECRETS.s3} }`,
        ),
      }),
    });
  });

  after(async function () {
    this.timeout(90_000);
    await fixture?.stop();
  });

  /**
   * The shape every case shares: the first half of the events, the server stopped once the
   * function has the first of them (the rest still on their way), the trigger's health seen
   * saying disconnected, the server back on its port and data, the health back to connected, the
   * second half, then every event by distinct id with any repeat carrying the same data.
   */
  async function restartMidStream(c: {
    fn: string;
    trigger: string;
    server: { pause(): Promise<void>; resume(): Promise<void> };
    publish(from: number, count: number): Promise<void>;
    ids(seen: readonly Seen[]): Set<string>;
  }): Promise<void> {
    await fixture.connected(c.trigger);
    await c.publish(0, HALF);
    await fixture.waitFor(c.fn, `the first events of ${c.fn}`, (s) => c.ids(s).size > 0);
    await c.server.pause();
    await fixture.untilSource(c.trigger, 0);
    await c.server.resume();
    await fixture.untilSource(c.trigger, 1);
    await c.publish(HALF, HALF);
    const seen = await fixture.waitFor(
      c.fn,
      `${2 * HALF} events of ${c.fn} across the restart`,
      (s) => c.ids(s).size >= 2 * HALF,
      90_000,
    );
    assertOncePerId(c.fn, seen, c.ids(seen), 2 * HALF);
  }

  it('PostgreSQL restarted between batches of commits: every committed row arrives', async () => {
    await restartMidStream({
      fn: 'orders',
      trigger: 'db',
      server: fixture.postgres,
      publish: async (from, count) => {
        await fixture.postgres.sql(rowsSql(from, count));
      },
      ids: restartRows,
    });
    const rows = new Set((await fixture.seenBy('orders')).map((e) => (e.data.new as { id: number }).id));
    assert.equal(rows.size, 2 * HALF, 'one row id per committed row');
  });

  it('RabbitMQ restarted with messages unacknowledged: every persistent message arrives, the queue drains', async () => {
    await restartMidStream({
      fn: 'jobs',
      trigger: 'queue',
      server: fixture.rabbitmq,
      publish: (from, count) => fixture.publishJobs('jobs', from, count),
      ids: bulkIds,
    });
    const counts = await eventually(
      async () => {
        const c = await fixture.rabbitmq.queueCounts('jobs');
        return c?.ready === 0 && c.unacked === 0 ? c : undefined;
      },
      30_000,
      'the queue to drain',
    );
    assert.equal(counts.consumers, 1, 'the reader consumes again');
  });

  it('Mosquitto restarted mid-stream: the persistent session gives every QoS 1 message', async () => {
    await restartMidStream({
      fn: 'sensors',
      trigger: 'telemetry',
      server: fixture.mqtt,
      publish: (from, count) => fixture.publishMqtt(from, count),
      ids: bulkIds,
    });
  });

  it('the polled S3 store restarted mid-stream: every object uploaded becomes one event', async () => {
    const keys = (from: number, count: number) =>
      Array.from({ length: count }, (_, k) => `restart/${from + k}.jpg`);
    await restartMidStream({
      fn: 'uploads',
      trigger: 'bucket',
      server: fixture.s3,
      publish: (from, count) => fixture.upload(uploads, 'uploads', keys(from, count)),
      ids: restartKeys,
    });
    const seen = await fixture.seenBy('uploads');
    assert.equal(new Set(seen.map((e) => e.data.key)).size, 2 * HALF, 'one event id per key');
  });
});
