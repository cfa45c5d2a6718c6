import assert from 'node:assert/strict';
import type { S3Source } from '@nimbus/api';
import { MemoryCheckpointStore } from '@nimbus/store';
import { type S3Server, eventually, startS3Server } from '@nimbus/testkit';
import { s3Source } from '../src/s3/index.js';
import { SourceConfigError } from '../src/source.js';
import { MapSecrets, Pollers, type RecordingSink, Uploader, dataOf, s3Trigger } from './s3-fixture.js';

const POLL_MS = 10_000;
const provisioner = s3Source.provisioner ?? assert.fail('the s3 source has no provisioner');

describe('s3 source: failures, health and provisioning, against versitygw', function () {
  this.timeout(15 * 60_000); // the first run builds versitygw (about 6 minutes on 2 cores)
  let s3: S3Server;
  let uploader: Uploader;
  let secrets: MapSecrets;
  const pollers = new Pollers();
  let bucketNo = 0;
  let bucket: string;

  before(async () => {
    s3 = await startS3Server();
    uploader = new Uploader(s3);
    secrets = MapSecrets.forServer(s3);
  });
  beforeEach(async () => {
    bucket = `health-${++bucketNo}`;
    await uploader.bucket(bucket);
  });
  afterEach(() => pollers.stopAll());
  after(async () => {
    uploader?.close();
    await s3?.stop();
  });

  const trigger = (spec: Partial<S3Source> = {}) =>
    s3Trigger({ endpoint: s3.endpoint, bucket, mode: 'poll', pollInterval: '10s', ...spec });
  const checkpoint = () => new MemoryCheckpointStore().checkpoint('team-a/thumbnails/uploads');

  /** Steps the poller's clock a poll interval at a time until `done` holds. */
  async function pollUntil<T>(
    made: ReturnType<Pollers['make']>,
    done: () => T | undefined,
    what: string,
  ): Promise<T> {
    return eventually(
      () => {
        const value = done();
        if (value === undefined) made.clock.advance(POLL_MS);
        return value;
      },
      20_000,
      what,
    );
  }

  /** Every health message the sink got, and every event attribute and body, as one text. */
  function everythingSaid(sink: RecordingSink): string {
    return JSON.stringify([
      sink.health,
      sink.stored.map((e) => ({ ...e, data: Buffer.from(e.data).toString('utf8') })),
    ]);
  }

  it('carries on after versitygw restarts mid-stream: health says so, then every change comes once', async () => {
    const made = pollers.make(trigger(), checkpoint(), { secrets });
    made.reader.start();
    await pollUntil(made, () => (made.sink.lastHealth?.connected ? true : undefined), 'the first listing');
    await uploader.put(bucket, 'before.txt', 'b');
    await pollUntil(made, () => (made.sink.stored.length === 1 ? true : undefined), 'the first change');

    await s3.pause();
    const down = await pollUntil(
      made,
      () => (made.sink.lastHealth?.connected === false ? made.sink.lastHealth : undefined),
      'health to say the store is gone',
    );
    assert.match(down.lastError ?? '', /listing bucket health-\d+: .*(ECONNREFUSED|connect)/i);
    await s3.resume();
    await uploader.put(bucket, 'after.txt', 'a');
    await pollUntil(
      made,
      () => (made.sink.stored.length === 2 ? true : undefined),
      'the change after the restart',
    );
    await pollUntil(made, () => (made.sink.lastHealth?.connected ? true : undefined), 'health to be back');
    assert.equal(made.sink.lastHealth?.lastError, undefined, 'no error once it reads again');
    assert.deepEqual(made.sink.summary(), ['created before.txt', 'created after.txt']);
    assert.deepEqual(made.sink.repeats(), []);
  });

  it('says in its health which field is wrong: keys the store refuses, a missing bucket, a missing Secret', async () => {
    const wrongSecret = 'wrong-secret-value-do-not-show';
    const badKeys = new MapSecrets(new Map([...secrets.values, ['s3-keys/secretAccessKey', wrongSecret]]));
    const cases = [
      {
        source: trigger(),
        secrets: badKeys,
        error: /spec\.triggers\[uploads\]\.s3\.credentials: .*refused the keys of Secret s3-keys/,
      },
      {
        source: trigger({ bucket: 'no-such-bucket' }),
        secrets,
        error: /spec\.triggers\[uploads\]\.s3\.bucket: the bucket no-such-bucket does not exist/,
      },
      {
        source: trigger({ credentials: { secret: 'missing' } }),
        secrets,
        error: /Secret missing has no key accessKeyId/,
      },
    ];
    for (const c of cases) {
      const made = pollers.make(c.source, checkpoint(), { secrets: c.secrets });
      made.reader.start();
      const health = await pollUntil(made, () => made.sink.lastHealth, 'a health report');
      assert.equal(health.connected, false);
      assert.match(health.lastError ?? '', c.error);
      const said = everythingSaid(made.sink);
      for (const secret of [wrongSecret, s3.secretAccessKey, s3.accessKeyId])
        assert.ok(!said.includes(secret), said);
      await made.reader.stop();
    }
  });

  it('never puts a credential in an event or its health, not even one written into the endpoint URL', async () => {
    const url = new URL(s3.endpoint);
    url.username = 'urluser';
    url.password = 'urlpassword';
    const made = pollers.make(trigger({ endpoint: url.toString() }), checkpoint(), { secrets });
    await made.reader.poll();
    await uploader.put(bucket, 'x.txt', 'x');
    await made.reader.poll();
    assert.equal(made.sink.stored.length, 1);
    assert.equal(made.sink.stored[0]?.source, `${s3.endpoint}/${bucket}`);
    assert.equal(dataOf(made.sink.stored[0] ?? assert.fail()).key, 'x.txt');
    const said = everythingSaid(made.sink);
    for (const secret of ['urluser', 'urlpassword', s3.secretAccessKey, s3.accessKeyId])
      assert.ok(!said.includes(secret), said);
  });

  describe('provisioner', () => {
    const notify = (spec: Partial<S3Source> = {}) =>
      s3Trigger({ endpoint: s3.endpoint, bucket, notifyToken: { name: 's3-notify', key: 'token' }, ...spec });

    it('checks the bucket with the trigger keys, and has nothing to remove', async () => {
      await provisioner.ensure(notify(), secrets);
      await provisioner.ensure(trigger(), secrets);
      await provisioner.remove(notify(), secrets);
    });

    it('refuses with a SourceConfigError naming the field', async () => {
      const badKeys = new MapSecrets(new Map([...secrets.values, ['s3-keys/secretAccessKey', 'nope-nope']]));
      const cases: [() => Promise<void>, string, RegExp][] = [
        [() => provisioner.ensure(notify({ bucket: 'no-such-bucket' }), secrets), 'bucket', /does not exist/],
        [() => provisioner.ensure(notify(), badKeys), 'credentials', /refused the keys/],
        [
          () => provisioner.ensure(notify({ notifyToken: undefined }), secrets),
          'notifyToken',
          /needs a notifyToken/,
        ],
        [
          () => provisioner.ensure(trigger({ pollInterval: 'soon' }), secrets),
          'pollInterval',
          /not a duration/,
        ],
        [() => provisioner.ensure(notify({ endpoint: 'ftp://example' }), secrets), 'endpoint', /http/],
      ];
      for (const [ensured, field, message] of cases) {
        await assert.rejects(ensured(), (err: unknown) => {
          assert.ok(err instanceof SourceConfigError, String(err));
          assert.equal(err.field, `spec.triggers[uploads].s3.${field}`);
          assert.match(err.message, message);
          assert.ok(
            !err.message.includes('nope-nope') && !err.message.includes(s3.secretAccessKey),
            err.message,
          );
          return true;
        });
      }
    });
  });
});
