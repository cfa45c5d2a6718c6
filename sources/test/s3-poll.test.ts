import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ResolvedSource, S3Source } from '@nimbus/api';
import { MemoryCheckpointStore, RedisCheckpointStore, RedisConnection } from '@nimbus/store';
import { ManualClock, type RedisServer, eventually, startRedisServer } from '@nimbus/testkit';
import { s3Source } from '../src/s3/index.js';
import type { SourceCheckpoint } from '../src/source.js';
import { RecordingSink, dataOf, quietLog, s3Suite, s3Trigger } from './s3-fixture.js';

const POLL_MS = 10_000;
const md5 = (text: string) => createHash('md5').update(text).digest('hex');

describe('s3 source, mode poll, against versitygw', () => {
  const suite = s3Suite('poll');
  const pollers = suite.pollers;

  function trigger(spec: Partial<S3Source> = {}) {
    return s3Trigger({
      endpoint: suite.s3.endpoint,
      bucket: suite.bucket,
      mode: 'poll',
      pollInterval: '10s',
      ...spec,
    });
  }

  function poller(source: ResolvedSource<'s3'>, checkpoint: SourceCheckpoint) {
    return pollers.make(source, checkpoint, { secrets: suite.secrets });
  }

  it('is one exclusive module whose reader runs in mode poll only', () => {
    assert.equal(s3Source.exclusive, true);
    const notify = s3Trigger({
      endpoint: suite.s3.endpoint,
      bucket: suite.bucket,
      notifyToken: { name: 's3-notify', key: 'token' },
    });
    const context = {
      source: notify,
      secrets: suite.secrets,
      sink: new RecordingSink(),
      checkpoint: new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads'),
      clock: new ManualClock(),
      log: quietLog,
    };
    assert.equal(s3Source.reader?.(context), undefined);
  });

  it('takes the bucket in as it is first, then gives each change between polls once', async () => {
    await suite.uploader.put(suite.bucket, 'in/old.jpg', 'history');
    await suite.uploader.put(suite.bucket, 'in/changes.jpg', 'v1');
    await suite.uploader.put(suite.bucket, 'in/goes.jpg', 'bye');
    const checkpoint = new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads');
    const { reader, sink } = poller(trigger({ prefix: 'in/', suffix: '.jpg' }), checkpoint);
    await reader.poll();
    assert.equal(sink.stored.length, 0, 'a new trigger does not fire for what the bucket held');
    assert.equal((await checkpoint.entries()).size, 4, 'three objects and the marker');

    await suite.uploader.put(suite.bucket, 'in/new photo é.jpg', 'fresh', 'image/jpeg');
    await suite.uploader.put(suite.bucket, 'in/changes.jpg', 'v2 is longer');
    await suite.uploader.delete(suite.bucket, 'in/goes.jpg');
    await suite.uploader.put(suite.bucket, 'in/skipped.png', 'suffix');
    await suite.uploader.put(suite.bucket, 'out/skipped.jpg', 'prefix');
    await reader.poll();
    assert.deepEqual(sink.summary().sort(), [
      'created in/changes.jpg',
      'created in/new photo é.jpg',
      'deleted in/goes.jpg',
    ]);
    const fresh =
      sink.stored.find((e) => dataOf(e).key === 'in/new photo é.jpg') ?? assert.fail('no new photo');
    const { eventTime, ...facts } = dataOf(fresh);
    assert.deepEqual(facts, {
      bucket: suite.bucket,
      key: 'in/new photo é.jpg',
      size: 5,
      etag: md5('fresh'),
      contentType: 'image/jpeg',
      eventName: 'ObjectCreated:*',
    });
    assert.ok(Math.abs(Date.parse(eventTime) - Date.now()) < 60_000, 'eventTime is the upload time');
    assert.equal(fresh.type, 'dev.nimbus.s3.object.created');
    assert.equal(fresh.source, `${suite.s3.endpoint}/${suite.bucket}`);
    assert.equal(fresh.subject, 'in/new%20photo%20%C3%A9.jpg');
    const gone =
      sink.stored.find((e) => e.type === 'dev.nimbus.s3.object.deleted') ?? assert.fail('no delete');
    assert.deepEqual([dataOf(gone).etag, dataOf(gone).size], [md5('bye'), 3], 'the last version seen');

    await reader.poll();
    assert.equal(sink.stored.length, 3, 'nothing changed, nothing new');
    assert.deepEqual(sink.repeats(), [], 'nothing was stored twice');
  });

  it('keeps its view of keys whose changes the trigger does not want, so they never fire later', async () => {
    const checkpoint = new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads');
    const { reader, sink } = poller(trigger({ events: ['deleted'] }), checkpoint);
    await reader.poll();
    await suite.uploader.put(suite.bucket, 'made.txt', 'no event for this');
    await reader.poll();
    assert.equal(sink.stored.length, 0);
    assert.ok((await checkpoint.entries()).has('made.txt'), 'but the view has it');
    await suite.uploader.delete(suite.bucket, 'made.txt');
    await reader.poll();
    assert.deepEqual(sink.summary(), ['deleted made.txt']);
  });

  it('reads the content type of keys whose signed path must be percent-encoded', async () => {
    const checkpoint = new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads');
    const { reader, sink } = poller(trigger(), checkpoint);
    await reader.poll();
    const keys = ["odd/a+b=c&d;e,f$g@h:i!j'k(l)m*n~o.txt", 'odd/ü 😀 %41.txt'];
    for (const key of keys) await suite.uploader.put(suite.bucket, key, key, 'text/x-odd');
    await reader.poll();
    assert.deepEqual(
      sink.stored.map((e) => [dataOf(e).key, dataOf(e).contentType]).sort(),
      keys.map((key) => [key, 'text/x-odd']).sort(),
    );
  });

  it('reads its checkpoint once, not every pass, and again after a pass that failed', async () => {
    const inner = new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads');
    let reads = 0;
    const checkpoint: SourceCheckpoint = {
      entries: () => {
        reads++;
        return inner.entries();
      },
      set: (fields) => inner.set(fields),
      delete: (fields) => inner.delete(fields),
      clear: () => inner.clear(),
    };
    const { reader, sink } = poller(trigger(), checkpoint);
    await reader.poll();
    await suite.uploader.put(suite.bucket, 'a.txt', 'a');
    await reader.poll();
    await reader.poll();
    assert.equal(reads, 1);
    await suite.uploader.put(suite.bucket, 'b.txt', 'b');
    sink.failStores = 1;
    await assert.rejects(reader.poll(), /the durable path is down/);
    await reader.poll();
    assert.equal(reads, 2, 'read again after the failed pass');
    assert.deepEqual(sink.summary().sort(), ['created a.txt', 'created b.txt']);
    assert.deepEqual(sink.repeats(), []);
  });

  it('lists every page of a bucket larger than one page', async () => {
    const checkpoint = new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads');
    const { reader, sink } = poller(trigger(), checkpoint);
    await reader.poll();
    const keys = Array.from({ length: 1_234 }, (_, i) => `k/${String(i).padStart(5, '0')}`);
    await runAll(keys, (key) => suite.uploader.put(suite.bucket, key, key));
    await reader.poll();
    assert.equal(sink.stored.length, keys.length);
    assert.deepEqual(new Set(sink.stored.map((e) => dataOf(e).key)), new Set(keys));
    assert.deepEqual(sink.repeats(), []);
  });

  it('gives a change again, with the same id, when its store failed', async () => {
    const checkpoint = new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads');
    const { reader, sink } = poller(trigger(), checkpoint);
    await reader.poll();
    await suite.uploader.put(suite.bucket, 'a.txt', 'a');
    await suite.uploader.put(suite.bucket, 'b.txt', 'b');
    sink.failStores = 1;
    await assert.rejects(reader.poll(), /the durable path is down/);
    assert.equal(sink.stored.length, 1, 'one of the two was stored');
    const view = await checkpoint.entries();
    assert.deepEqual(
      [...view.values()].map((v) => v.startsWith('P ')).sort(),
      [false, false, true],
      'the marker, the stored one, and the other one still pending',
    );
    await reader.poll();
    assert.deepEqual(sink.summary().sort(), ['created a.txt', 'created b.txt']);
    assert.deepEqual(sink.repeats(), [], 'the stored one was not stored again');
  });

  it('settles what is in flight when stopped mid-poll: what it stored is in the view, the rest comes next time', async () => {
    const checkpoint = new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads');
    const sink = new RecordingSink();
    const first = pollers.make(trigger(), checkpoint, { secrets: suite.secrets, sink });
    await first.reader.poll();
    const keys = Array.from({ length: 40 }, (_, i) => `s/${String(i).padStart(2, '0')}`);
    await runAll(keys, (key) => suite.uploader.put(suite.bucket, key, key));
    let stopped: Promise<void> | undefined;
    sink.afterStore = async () => {
      sink.afterStore = undefined;
      stopped = first.reader.stop(); // the gateway lost its lease
    };
    first.reader.start();
    await eventually(() => (stopped === undefined ? undefined : true), 10_000, 'the stop');
    await stopped;
    const view = await checkpoint.entries();
    for (const event of sink.stored)
      assert.match(
        view.get(dataOf(event).key) ?? 'missing',
        /^\d/,
        `${dataOf(event).key} is in the view, not pending`,
      );
    assert.ok(sink.stored.length < keys.length, `the stop cut the poll short (${sink.stored.length} stored)`);

    const second = pollers.make(trigger(), checkpoint, { secrets: suite.secrets, sink });
    await second.reader.poll();
    assert.deepEqual(sink.stored.map((e) => dataOf(e).key).sort(), keys);
    assert.deepEqual(sink.repeats(), [], 'nothing the first one stored and wrote down came again');
  });

  describe('with its checkpoint in Redis', () => {
    let redis: RedisServer;
    const connections: RedisConnection[] = [];
    const connect = () => {
      const c = new RedisConnection({ url: redis.url });
      connections.push(c);
      return c;
    };
    before(async () => {
      redis = await startRedisServer();
    });
    afterEach(async () => {
      await Promise.all(connections.splice(0).map((c) => c.close()));
    });
    after(async () => {
      await redis?.stop();
    });

    it('stores a change again with the same id after a crash between its store and the checkpoint, and misses nothing', async () => {
      const key = 'team-a/thumbnails/uploads';
      const sink = new RecordingSink(); // the durable path outlives the gateway
      const first = pollers.make(trigger(), new RedisCheckpointStore(connect()).checkpoint(key), {
        secrets: suite.secrets,
        sink,
      });
      await first.reader.poll();
      await suite.uploader.put(suite.bucket, 'one.txt', '1');
      await suite.uploader.put(suite.bucket, 'two.txt', '2');
      // Once the events are stored, Redis refuses the checkpoint's write (its script) for a while.
      const control = connect();
      sink.afterStore = async () => {
        sink.afterStore = undefined;
        await control.run('deny scripts', (c) => c.call('ACL', 'SETUSER', 'default', '-eval', '-evalsha'));
      };
      await assert.rejects(first.reader.poll(), /NOPERM|permission/i);
      assert.deepEqual(sink.summary().sort(), ['created one.txt', 'created two.txt']);
      await first.reader.stop(); // the gateway goes down
      await control.run('allow scripts', (c) => c.call('ACL', 'SETUSER', 'default', '+eval', '+evalsha'));
      await suite.uploader.put(suite.bucket, 'three.txt', '3');
      await suite.uploader.delete(suite.bucket, 'one.txt');

      const second = pollers.make(trigger(), new RedisCheckpointStore(connect()).checkpoint(key), {
        secrets: suite.secrets,
        sink,
      });
      await second.reader.poll();
      assert.deepEqual(sink.summary().sort(), [
        'created one.txt',
        'created three.txt',
        'created two.txt',
        'deleted one.txt',
      ]);
      const idOf = (summary: string) =>
        sink.stored.find((e) => `${e.type.split('.').at(-1)} ${dataOf(e).key}` === summary)?.id ??
        assert.fail();
      // Stored again with the ids they had, the copies dropped: one.txt, which went in the meantime,
      // was known to the view as pending, so its deletion is not lost.
      assert.deepEqual(sink.repeats().sort(), [idOf('created one.txt'), idOf('created two.txt')].sort());
      await second.reader.poll();
      assert.equal(sink.stored.length, 4, 'and after that, nothing again');
    });
  });
});

/** Runs every upload, 32 at a time. */
async function runAll<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}
