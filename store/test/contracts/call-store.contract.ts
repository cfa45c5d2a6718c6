import assert from 'node:assert/strict';
import type { ManualClock } from '@nimbus/testkit';
import type { CallStatus, CallStore, CallStoreLimits, NewCallRecord } from '../../src/call-store.js';
import { CallExistsError, InvalidStoreInputError } from '../../src/errors.js';
import { bodyBytes } from '../../src/stored-body.js';
import { waitOutTtl } from './expiry.js';

export interface CallFixture {
  /** A store on the fixture's data; each call gives another handle on it (another gateway replica). */
  open(limits?: Partial<CallStoreLimits>): CallStore;
  /** Milliseconds until a record expires. */
  ttlOf(id: string): Promise<number | undefined>;
  /** Makes a record `ms` older: steps the fake clock, or shortens its TTL in Redis. */
  age(id: string, ms: number): Promise<void>;
  clock?: ManualClock;
  close(): Promise<void>;
}

const DAY = 24 * 60 * 60 * 1000;

function newCall(id: string, extra: Partial<NewCallRecord> = {}): NewCallRecord {
  return { id, namespace: 'team-a', function: 'resize', createdAt: 1_700_000_000_000, ...extra };
}

/** The rules of the CallStore port, run against every adapter. */
export function describeCallStoreContract(adapter: string, setUp: () => Promise<CallFixture>): void {
  describe(`CallStore contract: ${adapter}`, () => {
    let f: CallFixture;
    let calls: CallStore;

    beforeEach(async () => {
      f = await setUp();
      calls = f.open();
    });
    afterEach(() => f.close());

    describe('create and get', () => {
      it('creates a queued record with no attempts and reads it back', async () => {
        const created = await calls.create(newCall('c1', { callbackUrl: 'https://example.com/hook?x=1' }));
        const expected = {
          id: 'c1',
          namespace: 'team-a',
          function: 'resize',
          status: 'queued',
          attempts: 0,
          createdAt: 1_700_000_000_000,
          timings: {},
          callbackUrl: 'https://example.com/hook?x=1',
        };
        assert.deepEqual(created, expected);
        assert.deepEqual(await calls.get('c1'), expected);
      });

      it('reads a missing id as undefined', async () => {
        assert.equal(await calls.get('nope'), undefined);
      });

      it("keeps a cancel token's hash, replaced by a transition, and refuses what is not one", async () => {
        const first = 'a'.repeat(64);
        const second = 'b'.repeat(64);
        await calls.create(newCall('c1', { cancelTokenHash: first }));
        assert.equal((await calls.get('c1'))?.cancelTokenHash, first);
        await calls.transition('c1', ['queued'], { cancelTokenHash: second });
        assert.equal((await calls.get('c1'))?.cancelTokenHash, second);
        await assert.rejects(
          calls.create(newCall('c2', { cancelTokenHash: 'the token itself' })),
          InvalidStoreInputError,
        );
      });

      it('keeps a trace id, replaced by a transition, and refuses what is not one', async () => {
        const first = '4bf92f3577b34da6a3ce929d0e0e4736';
        const second = '0af7651916cd43dd8448eb211c80319c';
        await calls.create(newCall('c1', { traceId: first }));
        assert.equal((await calls.get('c1'))?.traceId, first);
        await calls.transition('c1', ['queued'], { traceId: second });
        assert.equal((await calls.get('c1'))?.traceId, second);
        for (const bad of ['4BF92F3577B34DA6A3CE929D0E0E4736', `${first}"`, 'x'])
          await assert.rejects(calls.create(newCall('c2', { traceId: bad })), InvalidStoreInputError);
      });

      it('refuses a duplicate id and keeps the first record', async () => {
        await calls.create(newCall('c1'));
        await calls.transition('c1', ['queued'], { status: 'running', attempts: 1 });
        await assert.rejects(calls.create(newCall('c1', { function: 'other' })), (err: unknown) => {
          assert.ok(err instanceof CallExistsError);
          assert.equal(err.id, 'c1');
          return true;
        });
        const record = await calls.get('c1');
        assert.equal(record?.function, 'resize');
        assert.equal(record?.status, 'running');
      });

      it('lets only one of many concurrent creates of one id succeed', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => f.open().create(newCall('same', { attempts: i }))),
        );
        const ok = results.filter((r) => r.status === 'fulfilled');
        assert.equal(ok.length, 1);
        assert.ok(
          results.every((r) => r.status === 'fulfilled' || r.reason instanceof CallExistsError),
          'the others are refused as duplicates',
        );
      });

      const bad: [string, NewCallRecord][] = [
        ['an empty id', newCall('')],
        ['an id with a space', newCall('a b')],
        ['a bad namespace', newCall('c', { namespace: 'Team' })],
        ['a bad function name', newCall('c', { function: 'a.b' })],
        ['a negative createdAt', newCall('c', { createdAt: -1 })],
        ['an unknown status', newCall('c', { status: 'done' as CallStatus })],
        ['a callback URL that is not http(s)', newCall('c', { callbackUrl: 'ftp://x' })],
      ];
      for (const [what, record] of bad) {
        it(`refuses ${what}`, async () => {
          await assert.rejects(calls.create(record), InvalidStoreInputError);
          if (record.id !== '' && record.id !== 'a b') assert.equal(await calls.get(record.id), undefined);
        });
      }
    });

    describe('transition', () => {
      it('moves queued to running and says it applied, with the record after', async () => {
        await calls.create(newCall('c1'));
        const result = await calls.transition('c1', ['queued'], {
          status: 'running',
          attempts: 1,
          startedAt: 1_700_000_000_500,
          timings: { waitMs: 500 },
        });
        assert.equal(result.applied, true);
        assert.deepEqual(result.record, {
          ...(await calls.get('c1')),
          status: 'running',
          attempts: 1,
          startedAt: 1_700_000_000_500,
          timings: { waitMs: 500 },
        });
        assert.equal((await calls.get('c1'))?.status, 'running');
      });

      it('merges timings field by field and keeps fields a patch leaves out', async () => {
        await calls.create(newCall('c1'));
        await calls.transition('c1', ['queued'], { status: 'running', timings: { waitMs: 5, initMs: 40 } });
        await calls.transition('c1', ['running'], {
          status: 'succeeded',
          finishedAt: 1_700_000_001_000,
          timings: { durationMs: 12.5 },
        });
        const record = await calls.get('c1');
        assert.deepEqual(record?.timings, { waitMs: 5, initMs: 40, durationMs: 12.5 });
        assert.equal(record?.createdAt, 1_700_000_000_000);
        assert.equal(record?.finishedAt, 1_700_000_001_000);
      });

      it('never starts a cancelled call', async () => {
        await calls.create(newCall('c1'));
        assert.equal((await calls.transition('c1', ['queued'], { status: 'cancelled' })).applied, true);
        const late = await calls.transition('c1', ['queued'], { status: 'running', attempts: 1 });
        assert.equal(late.applied, false);
        assert.equal(late.record?.status, 'cancelled');
        assert.equal(late.record?.attempts, 0);
        assert.equal((await calls.get('c1'))?.status, 'cancelled');
      });

      it('never lets a late duplicate delivery overwrite a finished call', async () => {
        await calls.create(newCall('c1'));
        await calls.transition('c1', ['queued', 'running'], { status: 'running', attempts: 1 });
        const done = await calls.transition('c1', ['running'], {
          status: 'succeeded',
          result: { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'first' },
        });
        assert.equal(done.applied, true);
        const redelivered = await calls.transition('c1', ['queued', 'running'], {
          status: 'running',
          attempts: 2,
        });
        assert.equal(redelivered.applied, false);
        const secondResult = await calls.transition('c1', ['running'], {
          status: 'failed',
          lastError: 'late',
          result: { statusCode: 500, headers: {}, body: 'second' },
        });
        assert.equal(secondResult.applied, false);
        const record = await calls.get('c1');
        assert.equal(record?.status, 'succeeded');
        assert.equal(record?.attempts, 1);
        assert.equal(record?.result?.body, 'first');
        assert.equal(record?.lastError, undefined);
      });

      it('lets exactly one of many concurrent deliveries start the call', async () => {
        await calls.create(newCall('c1'));
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            f.open().transition('c1', ['queued'], { status: 'running', attempts: i + 1 }),
          ),
        );
        const applied = results.filter((r) => r.applied);
        assert.equal(applied.length, 1);
        assert.equal((await calls.get('c1'))?.attempts, applied[0]?.record?.attempts);
      });

      it('updates without a status change when the status is allowed', async () => {
        await calls.create(newCall('c1'));
        const result = await calls.transition('c1', ['queued'], {
          lastError: 'connect refused',
          attempts: 1,
        });
        assert.equal(result.applied, true);
        assert.equal(result.record?.status, 'queued');
        assert.equal(result.record?.lastError, 'connect refused');
      });

      it('keeps no credential header of a result (a cookie the function set for its caller)', async () => {
        await calls.create(newCall('c1', { status: 'running' }));
        await calls.transition('c1', ['running'], {
          status: 'succeeded',
          result: {
            statusCode: 200,
            headers: {
              'content-type': 'text/plain',
              'set-cookie': 'sid=s3cret',
              authorization: 'Bearer s3cret',
            },
            body: 'ok',
          },
        });
        assert.deepEqual((await calls.get('c1'))?.result?.headers, { 'content-type': 'text/plain' });
      });

      it('notes a given-up callback on a finished call, keeping its status and result', async () => {
        await calls.create(newCall('c1', { status: 'running' }));
        await calls.transition('c1', ['running'], {
          status: 'succeeded',
          result: { statusCode: 200, headers: {}, body: 'ok' },
        });
        const noted = await calls.transition('c1', ['running', 'succeeded', 'failed'], {
          callbackError: 'refused to connect: hooks.example: 10.0.0.7 port 80 is a private address',
        });
        assert.equal(noted.applied, true);
        const record = await calls.get('c1');
        assert.equal(record?.status, 'succeeded');
        assert.equal(record?.result?.body, 'ok');
        assert.match(record?.callbackError ?? '', /^refused to connect: hooks\.example/);
        await assert.rejects(
          calls.transition('c1', ['succeeded'], { callbackError: 42 as unknown as string }),
          InvalidStoreInputError,
        );
      });

      it('answers a missing id with applied false and no record', async () => {
        assert.deepEqual(await calls.transition('ghost', ['queued'], { status: 'running' }), {
          applied: false,
          record: undefined,
        });
        assert.equal(await calls.get('ghost'), undefined, 'a transition does not create a record');
      });

      it('refuses bad statuses and patches before changing anything', async () => {
        await calls.create(newCall('c1'));
        await assert.rejects(calls.transition('c1', [], { status: 'running' }), InvalidStoreInputError);
        await assert.rejects(
          calls.transition('c1', ['later' as CallStatus], { status: 'running' }),
          InvalidStoreInputError,
        );
        await assert.rejects(
          calls.transition('c1', ['queued'], { status: 'finished' as CallStatus }),
          InvalidStoreInputError,
        );
        await assert.rejects(calls.transition('c1', ['queued'], { attempts: -1 }), InvalidStoreInputError);
        await assert.rejects(calls.transition('c1', ['queued'], { attempts: 1.5 }), InvalidStoreInputError);
        await assert.rejects(
          calls.transition('c1', ['queued'], { timings: { durationMs: Number.NaN } }),
          InvalidStoreInputError,
        );
        await assert.rejects(
          calls.transition('c1', ['queued'], { result: { statusCode: 99, headers: {}, body: '' } }),
          InvalidStoreInputError,
        );
        assert.equal((await calls.get('c1'))?.status, 'queued');
        assert.equal((await calls.get('c1'))?.attempts, 0);
      });
    });

    describe('result bodies', () => {
      const finish = async (store: CallStore, id: string, body: Uint8Array | string) => {
        await store.create(newCall(id, { status: 'running' }));
        const result = await store.transition(id, ['running'], {
          status: 'succeeded',
          result: { statusCode: 201, headers: { 'x-a': 'b' }, body },
        });
        assert.equal(result.applied, true);
        return (await store.get(id))?.result;
      };

      it('keeps text as text', async () => {
        assert.deepEqual(await finish(calls, 'c1', 'héllo'), {
          statusCode: 201,
          headers: { 'x-a': 'b' },
          body: 'héllo',
          encoding: 'utf8',
          truncated: false,
          size: 6,
        });
      });

      it('keeps bytes that are not UTF-8 as base64, byte for byte', async () => {
        const bytes = new Uint8Array([0xff, 0x00, 0xfe, 0x80, 0x41]);
        const result = await finish(calls, 'c1', bytes);
        assert.equal(result?.encoding, 'base64');
        assert.deepEqual([...bodyBytes(result ?? { body: '', encoding: 'utf8' })], [...bytes]);
      });

      it('cuts a body over the limit, says so, and keeps its full size', async () => {
        const store = f.open({ maxResultBodyBytes: 16 });
        const exact = await finish(store, 'exact', 'x'.repeat(16));
        assert.equal(exact?.truncated, false);
        assert.equal(exact?.body, 'x'.repeat(16));
        const long = await finish(store, 'long', 'y'.repeat(40));
        assert.equal(long?.truncated, true);
        assert.equal(long?.body, 'y'.repeat(16));
        assert.equal(long?.size, 40);
      });

      it('cuts between UTF-8 characters, never through one', async () => {
        const store = f.open({ maxResultBodyBytes: 10 });
        const result = await finish(store, 'c1', '€€€€'); // 3 bytes each: 12
        assert.equal(result?.encoding, 'utf8');
        assert.equal(result?.body, '€€€');
        assert.equal(result?.truncated, true);
      });

      it('stores the start of a larger answer as truncated, with the size the caller counted', async () => {
        await calls.create(newCall('part', { status: 'running' }));
        // The gateway's cut fell inside the last €: the stored text ends before it.
        const start = Buffer.from('ab€€').subarray(0, 7);
        await calls.transition('part', ['running'], {
          status: 'succeeded',
          result: { statusCode: 200, headers: {}, body: start, size: 300_000_000 },
        });
        const result = (await calls.get('part'))?.result;
        assert.equal(result?.truncated, true);
        assert.equal(result?.size, 300_000_000);
        assert.equal(result?.encoding, 'utf8');
        assert.equal(result?.body, 'ab€');
        await assert.rejects(
          calls.transition('part', ['succeeded'], {
            result: { statusCode: 200, headers: {}, body: '', size: -1 },
          }),
          InvalidStoreInputError,
        );
      });

      it('keeps 1 MiB by default', async () => {
        const full = await finish(calls, 'full', 'z'.repeat(1024 * 1024));
        assert.equal(full?.truncated, false);
        assert.equal(full?.body.length, 1024 * 1024);
        const over = await finish(calls, 'over', 'z'.repeat(1024 * 1024 + 1));
        assert.equal(over?.truncated, true);
        assert.equal(over?.body.length, 1024 * 1024);
        assert.equal(over?.size, 1024 * 1024 + 1);
      });
    });

    describe('expiry', () => {
      it('keeps a record for 24 hours by default', async () => {
        await calls.create(newCall('c1'));
        const ttl = await f.ttlOf('c1');
        assert.ok(ttl !== undefined && ttl > DAY - 10_000 && ttl <= DAY, `ttl ${ttl}`);
      });

      it('counts the TTL from the last change that applied', async () => {
        await calls.create(newCall('c1'));
        await f.age('c1', DAY / 2);
        assert.equal((await calls.transition('c1', ['running'], { status: 'failed' })).applied, false);
        const before = await f.ttlOf('c1');
        assert.ok(before !== undefined && before <= DAY / 2, `a refused transition kept ttl ${before}`);
        await calls.transition('c1', ['queued'], { status: 'running' });
        const after = await f.ttlOf('c1');
        assert.ok(after !== undefined && after > DAY - 10_000, `ttl after a change ${after}`);
      });

      it('forgets a record once its TTL has passed', async () => {
        const ttlMs = f.clock ? 60_000 : 150;
        const store = f.open({ ttlMs });
        await store.create(newCall('c1'));
        await waitOutTtl(
          f.clock,
          ttlMs,
          async () => (await store.get('c1')) === undefined,
          'the call record',
        );
        assert.equal((await store.transition('c1', ['queued'], { status: 'running' })).applied, false);
        await store.create(newCall('c1'));
      });
    });
  });
}
