import assert from 'node:assert/strict';
import type { S3Source } from '@nimbus/api';
import { MemoryCheckpointStore } from '@nimbus/store';
import { eventually } from '@nimbus/testkit';
import { s3Source } from '../src/s3/index.js';
import { SourceConfigError } from '../src/source.js';
import { MapSecrets, type Pollers, type RecordingSink, dataOf, s3Suite, s3Trigger } from './s3-fixture.js';

const POLL_MS = 10_000;
const provisioner = s3Source.provisioner ?? assert.fail('the s3 source has no provisioner');

describe('s3 source: failures, health and provisioning, against versitygw', () => {
  const suite = s3Suite('health');
  const pollers = suite.pollers;

  const trigger = (spec: Partial<S3Source> = {}) =>
    s3Trigger({
      endpoint: suite.s3.endpoint,
      bucket: suite.bucket,
      mode: 'poll',
      pollInterval: '10s',
      ...spec,
    });
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
    const made = pollers.make(trigger(), checkpoint(), { secrets: suite.secrets });
    made.reader.start();
    await pollUntil(made, () => (made.sink.lastHealth?.connected ? true : undefined), 'the first listing');
    await suite.uploader.put(suite.bucket, 'before.txt', 'b');
    await pollUntil(made, () => (made.sink.stored.length === 1 ? true : undefined), 'the first change');

    await suite.s3.pause();
    const down = await pollUntil(
      made,
      () => (made.sink.lastHealth?.connected === false ? made.sink.lastHealth : undefined),
      'health to say the store is gone',
    );
    assert.match(down.lastError ?? '', /listing bucket health-\d+: .*(ECONNREFUSED|connect)/i);
    await suite.s3.resume();
    await suite.uploader.put(suite.bucket, 'after.txt', 'a');
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
    const badKeys = new MapSecrets(
      new Map([...suite.secrets.values, ['s3-keys/secretAccessKey', wrongSecret]]),
    );
    const cases = [
      {
        source: trigger(),
        secrets: badKeys,
        error: /spec\.triggers\[uploads\]\.s3\.credentials: .*refused the keys of Secret s3-keys/,
      },
      {
        source: trigger({ bucket: 'no-such-bucket' }),
        secrets: suite.secrets,
        error: /spec\.triggers\[uploads\]\.s3\.bucket: the bucket no-such-bucket does not exist/,
      },
      {
        source: trigger({ credentials: { secret: 'missing' } }),
        secrets: suite.secrets,
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
      for (const secret of [wrongSecret, suite.s3.secretAccessKey, suite.s3.accessKeyId])
        assert.ok(!said.includes(secret), said);
      await made.reader.stop();
    }
  });

  it('never puts a credential in an event or its health, not even one written into the endpoint URL', async () => {
    const url = new URL(suite.s3.endpoint);
    url.username = 'urluser';
    url.password = 'urlpassword';
    const made = pollers.make(trigger({ endpoint: url.toString() }), checkpoint(), {
      secrets: suite.secrets,
    });
    await made.reader.poll();
    await suite.uploader.put(suite.bucket, 'x.txt', 'x');
    await made.reader.poll();
    assert.equal(made.sink.stored.length, 1);
    assert.equal(made.sink.stored[0]?.source, `${suite.s3.endpoint}/${suite.bucket}`);
    assert.equal(dataOf(made.sink.stored[0] ?? assert.fail()).key, 'x.txt');
    const said = everythingSaid(made.sink);
    for (const secret of ['urluser', 'urlpassword', suite.s3.secretAccessKey, suite.s3.accessKeyId])
      assert.ok(!said.includes(secret), said);
  });

  describe('provisioner', () => {
    const notify = (spec: Partial<S3Source> = {}) =>
      s3Trigger({
        endpoint: suite.s3.endpoint,
        bucket: suite.bucket,
        notifyToken: { name: 's3-notify', key: 'token' },
        ...spec,
      });

    it('checks the bucket with the trigger keys, and has nothing to remove', async () => {
      await provisioner.ensure(notify(), suite.secrets);
      await provisioner.ensure(trigger(), suite.secrets);
      await provisioner.remove(notify(), suite.secrets);
    });

    it('refuses with a SourceConfigError naming the field', async () => {
      const badKeys = new MapSecrets(
        new Map([...suite.secrets.values, ['s3-keys/secretAccessKey', 'nope-nope']]),
      );
      const cases: [() => Promise<void>, string, RegExp][] = [
        [
          () => provisioner.ensure(notify({ bucket: 'no-such-bucket' }), suite.secrets),
          'bucket',
          /does not exist/,
        ],
        [() => provisioner.ensure(notify(), badKeys), 'credentials', /refused the keys/],
        [
          () => provisioner.ensure(notify({ notifyToken: undefined }), suite.secrets),
          'notifyToken',
          /needs a notifyToken/,
        ],
        [
          () => provisioner.ensure(trigger({ pollInterval: 'soon' }), suite.secrets),
          'pollInterval',
          /not a duration/,
        ],
        [() => provisioner.ensure(notify({ endpoint: 'ftp://example' }), suite.secrets), 'endpoint', /http/],
      ];
      for (const [ensured, field, message] of cases) {
        await assert.rejects(ensured(), (err: unknown) => {
          assert.ok(err instanceof SourceConfigError, String(err));
          assert.equal(err.field, `spec.triggers[uploads].s3.${field}`);
          assert.match(err.message, message);
          assert.ok(
            !err.message.includes('nope-nope') && !err.message.includes(suite.s3.secretAccessKey),
            err.message,
          );
          return true;
        });
      }
    });
  });
});
