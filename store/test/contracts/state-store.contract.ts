import assert from 'node:assert/strict';
import type { ManualClock } from '@nimbus/testkit';
import {
  InvalidStateKeyError,
  InvalidStateValueError,
  InvalidStoreInputError,
  StateNotAnIntegerError,
  StateQuotaExceededError,
  StateValueTooLargeError,
} from '../../src/errors.js';
import type { JsonValue } from '../../src/json-value.js';
import type { StateLimits, StateStore } from '../../src/state-store.js';
import { shortTtl, waitOutTtl } from './expiry.js';

export interface StateFixture {
  /** A store on the fixture's data; each call gives another handle on it (another replica). */
  open(limits?: Partial<StateLimits>): StateStore;
  /** Milliseconds until a key expires; undefined when it has no expiry. */
  ttlOf(namespace: string, fn: string, key: string): Promise<number | undefined>;
  /** The in-memory adapter's clock; undefined where time is real (Redis). */
  clock?: ManualClock;
  close(): Promise<void>;
}

/** The rules of the StateStore port, run against every adapter. */
export function describeStateStoreContract(adapter: string, setUp: () => Promise<StateFixture>): void {
  describe(`StateStore contract: ${adapter}`, () => {
    let f: StateFixture;
    let store: StateStore;
    const ns = 'team-a';
    const fn = 'counter';

    beforeEach(async () => {
      f = await setUp();
      store = f.open();
    });
    afterEach(async () => {
      await f.close();
    });

    describe('get, set and delete', () => {
      const values: [string, JsonValue][] = [
        ['an object', { a: 1, b: [true, null, 'x'], c: { d: -2.5 } }],
        ['an array', [1, 'two', { three: 3 }]],
        ['a string', 'héllo ☃'],
        ['a number', 42.5],
        ['false', false],
        ['null', null],
        ['an empty object', {}],
      ];
      for (const [what, value] of values) {
        it(`stores ${what} and reads it back equal`, async () => {
          const s = store.scoped(ns, fn);
          const version = await s.set('k', value);
          assert.deepEqual(await s.get('k'), { value, version });
        });
      }

      it('reads a missing key as undefined', async () => {
        assert.equal(await store.scoped(ns, fn).get('missing'), undefined);
      });

      it('hands out copies: changing a value read or written does not change what is stored', async () => {
        const s = store.scoped(ns, fn);
        const value = { list: [1] };
        await s.set('k', value);
        value.list.push(2);
        const read = await s.get('k');
        assert.deepEqual(read?.value, { list: [1] });
        (read?.value as { list: number[] }).list.push(3);
        assert.deepEqual((await s.get('k'))?.value, { list: [1] });
      });

      it('deletes a key, and says whether there was one', async () => {
        const s = store.scoped(ns, fn);
        await s.set('k', 1);
        assert.equal(await s.delete('k'), true);
        assert.equal(await s.get('k'), undefined);
        assert.equal(await s.delete('k'), false);
      });

      it('accepts keys with any printable characters, including the separator', async () => {
        const s = store.scoped(ns, fn);
        for (const key of ['a:b:c', 'user/42', '*?[]', 'ключ', 'with space', '😀']) {
          await s.set(key, key);
          assert.equal((await s.get(key))?.value, key, key);
        }
      });
    });

    describe('versions', () => {
      it('change on every write, even of the same value', async () => {
        const s = store.scoped(ns, fn);
        const seen = new Set<string>();
        seen.add(await s.set('k', 1));
        seen.add(await s.set('k', 1));
        await s.incr('k');
        seen.add((await s.get('k'))?.version ?? '');
        const cas = await s.compareAndSet('k', (await s.get('k'))?.version ?? null, 5);
        assert.equal(cas.ok, true);
        if (cas.ok) seen.add(cas.version);
        assert.equal(seen.size, 4, 'four writes, four versions');
        assert.equal(seen.has(''), false);
      });

      it('are never reused after a delete, so a stale compareAndSet cannot succeed (no ABA)', async () => {
        const s = store.scoped(ns, fn);
        const first = await s.set('k', 'a');
        await s.delete('k');
        const second = await s.set('k', 'a');
        assert.notEqual(second, first);
        const stale = await s.compareAndSet('k', first, 'b');
        assert.deepEqual(stale, { ok: false, currentVersion: second });
        assert.equal((await s.get('k'))?.value, 'a');
      });
    });

    describe('compareAndSet', () => {
      it('writes when the version matches and returns the new version', async () => {
        const s = store.scoped(ns, fn);
        const v1 = await s.set('k', { n: 1 });
        const result = await s.compareAndSet('k', v1, { n: 2 });
        assert.equal(result.ok, true);
        assert.ok(result.ok && result.version !== v1);
        assert.deepEqual(await s.get('k'), { value: { n: 2 }, version: result.ok ? result.version : '' });
      });

      it('refuses a stale version and reports the current one, leaving the value alone', async () => {
        const s = store.scoped(ns, fn);
        const v1 = await s.set('k', 1);
        const v2 = await s.set('k', 2);
        assert.deepEqual(await s.compareAndSet('k', v1, 3), { ok: false, currentVersion: v2 });
        assert.deepEqual(await s.get('k'), { value: 2, version: v2 });
      });

      it('with null writes only when the key is absent', async () => {
        const s = store.scoped(ns, fn);
        const created = await s.compareAndSet('k', null, 'first');
        assert.equal(created.ok, true);
        const again = await s.compareAndSet('k', null, 'second');
        assert.deepEqual(again, { ok: false, currentVersion: created.ok ? created.version : '' });
        assert.equal((await s.get('k'))?.value, 'first');
      });

      it('with a version on an absent key fails with currentVersion null', async () => {
        const s = store.scoped(ns, fn);
        const v = await s.set('k', 1);
        await s.delete('k');
        assert.deepEqual(await s.compareAndSet('k', v, 2), { ok: false, currentVersion: null });
        assert.equal(await s.get('k'), undefined);
      });

      it('lets exactly one of many concurrent writers with the same version win', async () => {
        const v = await store.scoped(ns, fn).set('k', 0);
        const writers = Array.from({ length: 12 }, (_, i) =>
          f
            .open()
            .scoped(ns, fn)
            .compareAndSet('k', v, i + 1),
        );
        const results = await Promise.all(writers);
        const winners = results.flatMap((r, i) => (r.ok ? [i + 1] : []));
        assert.equal(winners.length, 1, `winners: ${winners.join(', ')}`);
        assert.equal((await store.scoped(ns, fn).get('k'))?.value, winners[0]);
      });

      it('refuses an empty or non-string expected version', async () => {
        const s = store.scoped(ns, fn);
        await assert.rejects(s.compareAndSet('k', '', 1), InvalidStateValueError);
        await assert.rejects(s.compareAndSet('k', 7 as unknown as string, 1), InvalidStateValueError);
      });
    });

    describe('incr', () => {
      it('starts a missing key from 0, by 1 unless told', async () => {
        const s = store.scoped(ns, fn);
        assert.equal(await s.incr('n'), 1);
        assert.equal(await s.incr('n'), 2);
        assert.equal(await s.incr('n', 10), 12);
        assert.equal(await s.incr('n', -20), -8);
        assert.equal((await s.get('n'))?.value, -8);
      });

      it('counts on from an integer written with set', async () => {
        const s = store.scoped(ns, fn);
        await s.set('n', 41);
        assert.equal(await s.incr('n'), 42);
        await s.set('neg', -5);
        assert.equal(await s.incr('neg', 5), 0);
      });

      it('works up to the edge of the safe-integer range and refuses to go past it', async () => {
        const s = store.scoped(ns, fn);
        await s.set('n', Number.MAX_SAFE_INTEGER - 1);
        assert.equal(await s.incr('n'), Number.MAX_SAFE_INTEGER);
        await assert.rejects(s.incr('n'), StateNotAnIntegerError);
        assert.equal((await s.get('n'))?.value, Number.MAX_SAFE_INTEGER);
        await s.set('m', Number.MIN_SAFE_INTEGER + 1);
        assert.equal(await s.incr('m', -1), Number.MIN_SAFE_INTEGER);
        await assert.rejects(s.incr('m', -1), StateNotAnIntegerError);
      });

      const notIntegers: [string, JsonValue][] = [
        ['a numeric string', '5'],
        ['a fraction', 1.5],
        ['an object', { n: 1 }],
        ['null', null],
        ['true', true],
        ['an integer beyond the safe range', 2 ** 60],
      ];
      for (const [what, value] of notIntegers) {
        it(`refuses to count on from ${what}, naming the key, and leaves it alone`, async () => {
          const s = store.scoped(ns, fn);
          const version = await s.set('k', value);
          await assert.rejects(s.incr('k'), (err: unknown) => {
            assert.ok(err instanceof StateNotAnIntegerError);
            assert.match(err.message, /"k"/);
            assert.equal(err.key, 'k');
            return true;
          });
          assert.deepEqual(await s.get('k'), { value, version });
        });
      }

      for (const by of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '1' as unknown as number]) {
        it(`refuses the amount ${typeof by === 'string' ? `"${by}"` : String(by)}`, async () => {
          await assert.rejects(store.scoped(ns, fn).incr('k', by), InvalidStateValueError);
          assert.equal(await store.scoped(ns, fn).get('k'), undefined);
        });
      }

      it('gives each of many concurrent increments its own result', async () => {
        const results = await Promise.all(
          Array.from({ length: 25 }, () => f.open().scoped(ns, fn).incr('n')),
        );
        assert.deepEqual(
          [...results].sort((a, b) => a - b),
          Array.from({ length: 25 }, (_, i) => i + 1),
        );
      });
    });

    describe('value size limit', () => {
      /** A string whose JSON text (with its two quotes) is exactly `bytes` long. */
      const jsonOfSize = (bytes: number) => 'x'.repeat(bytes - 2);

      it('is 64 KiB of JSON by default: 65536 bytes are stored, 65537 refused', async () => {
        const s = store.scoped(ns, fn);
        await s.set('k', jsonOfSize(65_536));
        assert.equal(((await s.get('k'))?.value as string).length, 65_534);
        await assert.rejects(s.set('k', jsonOfSize(65_537)), StateValueTooLargeError);
      });

      it('refuses a value over a configured limit with its key, size and the limit, and stores nothing', async () => {
        const s = f.open({ maxValueBytes: 100 }).scoped(ns, fn);
        await s.set('ok', jsonOfSize(100));
        const big = { text: '€'.repeat(40) }; // 3 bytes a character in UTF-8: 131 bytes
        await assert.rejects(s.set('big', big), (err: unknown) => {
          assert.ok(err instanceof StateValueTooLargeError);
          assert.equal(err.key, 'big');
          assert.equal(err.size, Buffer.byteLength(JSON.stringify(big)));
          assert.equal(err.limit, 100);
          assert.match(err.message, /"big".*131 bytes.*100 bytes/);
          return true;
        });
        await assert.rejects(s.compareAndSet('big', null, big), StateValueTooLargeError);
        assert.equal(await s.get('big'), undefined);
      });
    });

    describe('quotas', () => {
      const refusedFor = (quota: 'maxKeys' | 'maxBytes', would: number, limit: number) => (err: unknown) => {
        assert.ok(err instanceof StateQuotaExceededError, String(err));
        assert.equal(err.quota, quota);
        assert.equal(err.would, would);
        assert.equal(err.limit, limit);
        assert.match(err.message, new RegExp(`quota ${quota}.*${would}.*limit is ${limit}`));
        return true;
      };

      it('refuses a key past maxKeys in every write, stores nothing, and lets overwrites and deletes through', async () => {
        const s = f.open({ maxKeys: 3 }).scoped(ns, fn);
        for (const key of ['a', 'b', 'c']) await s.set(key, key);
        await assert.rejects(s.set('d', 'd'), refusedFor('maxKeys', 4, 3));
        await assert.rejects(s.incr('d'), refusedFor('maxKeys', 4, 3));
        await assert.rejects(s.compareAndSet('d', null, 'd'), refusedFor('maxKeys', 4, 3));
        assert.equal(await s.get('d'), undefined);
        await s.set('a', 'again');
        assert.equal(await s.delete('b'), true);
        await s.set('d', 'd');
        assert.equal((await s.get('d'))?.value, 'd');
      });

      it('counts keys and JSON bytes per function, and refuses growth past maxBytes', async () => {
        const opened = f.open({ maxBytes: 100 });
        const s = opened.scoped(ns, fn);
        await s.set('k1', 'x'.repeat(38)); // 2 + 40
        await s.incr('n', 12345); // 1 + 5
        assert.deepEqual(await opened.usage(ns, fn), { keys: 2, bytes: 48 });
        await assert.rejects(s.set('k2', 'y'.repeat(50)), refusedFor('maxBytes', 48 + 2 + 52, 100));
        await assert.rejects(s.set('k1', 'x'.repeat(91)), refusedFor('maxBytes', 2 + 93 + 6, 100));
        await s.set('k1', 'x'.repeat(90)); // exactly 100
        assert.deepEqual(await opened.usage(ns, fn), { keys: 2, bytes: 100 });
        await s.set('k1', 'short'); // shrinking is always allowed
        assert.deepEqual(await opened.usage(ns, fn), { keys: 2, bytes: 2 + 7 + 6 });
        await s.delete('n');
        assert.deepEqual(await opened.usage(ns, fn), { keys: 1, bytes: 9 });
      });

      it('takes a per-function quota over the store default, and keeps functions apart', async () => {
        const opened = f.open({ maxKeys: 2 });
        const small = opened.scoped(ns, fn, { maxKeys: 1 });
        const other = opened.scoped(ns, 'other');
        await small.set('a', 1);
        await assert.rejects(small.set('b', 1), refusedFor('maxKeys', 2, 1));
        await other.set('a', 1);
        await other.set('b', 1);
        await assert.rejects(other.set('c', 1), refusedFor('maxKeys', 3, 2));
        assert.deepEqual(await opened.usage(ns, 'other'), { keys: 2, bytes: 4 });
      });

      it('stops counting keys whose TTL has passed', async () => {
        const opened = f.open({ maxKeys: 2 });
        const s = opened.scoped(ns, fn);
        const ttl = shortTtl(f.clock);
        await s.set('a', 1, { ttlMs: ttl });
        await s.compareAndSet('b', null, 1, { ttlMs: ttl });
        await assert.rejects(s.set('c', 1), StateQuotaExceededError);
        await waitOutTtl(
          f.clock,
          ttl,
          async () => (await opened.usage(ns, fn)).keys === 0,
          'the expired keys',
        );
        await s.set('c', 1);
        await s.set('d', 1);
        assert.deepEqual(await opened.usage(ns, fn), { keys: 2, bytes: 4 });
      });

      it('lets exactly maxKeys of many concurrent writers of new keys through', async () => {
        const opened = f.open({ maxKeys: 5 });
        const s = opened.scoped(ns, fn);
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? s.set(`k${i}`, i) : s.incr(`k${i}`))),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
        assert.ok(
          results.every((r) => r.status === 'fulfilled' || r.reason instanceof StateQuotaExceededError),
        );
        assert.equal((await opened.usage(ns, fn)).keys, 5);
      });

      it('starts from nothing after clear', async () => {
        const opened = f.open({ maxKeys: 2 });
        const s = opened.scoped(ns, fn);
        await s.set('a', 1);
        await s.set('b', 1);
        await opened.clear(ns, fn);
        assert.deepEqual(await opened.usage(ns, fn), { keys: 0, bytes: 0 });
        await s.set('c', 1);
        await s.set('d', 1);
      });

      it('refuses limits that are not positive whole numbers', () => {
        for (const bad of [0, -1, 1.5, Number.NaN])
          assert.throws(() => store.scoped(ns, fn, { maxKeys: bad }), InvalidStoreInputError);
        assert.throws(() => store.scoped(ns, fn, { maxBytes: 0 }), InvalidStoreInputError);
      });
    });

    describe('refused values', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const cases: [string, unknown][] = [
        ['undefined', undefined],
        ['a function', () => 1],
        ['NaN', Number.NaN],
        ['Infinity inside an object', { n: Number.POSITIVE_INFINITY }],
        ['a Date', new Date(0)],
        ['a Map', new Map()],
        ['a class instance', new (class Point {})()],
        ['a cyclic object', cyclic],
        ['a bigint', 1n],
        ['a sparse array', Object.assign(new Array(3), { 0: 1, 2: 3 })],
        ['undefined inside an array', [1, undefined]],
        ['undefined inside an object', { a: undefined }],
      ];
      for (const [what, value] of cases) {
        it(`refuses ${what} and stores nothing`, async () => {
          const s = store.scoped(ns, fn);
          await assert.rejects(s.set('k', value as JsonValue), InvalidStateValueError);
          await assert.rejects(s.compareAndSet('k', null, value as JsonValue), InvalidStateValueError);
          assert.equal(await s.get('k'), undefined);
        });
      }
    });

    describe('key validation', () => {
      const bad: [string, string][] = [
        ['empty', ''],
        ['over 512 bytes', 'é'.repeat(257)],
        ['with a newline', 'a\nb'],
        ['with NUL', 'a\u0000b'],
        ['with DEL', 'a\u007fb'],
        ['with a C1 control', 'a\u0085b'],
      ];
      for (const [what, key] of bad) {
        it(`refuses a key ${what} in every operation`, async () => {
          const s = store.scoped(ns, fn);
          await assert.rejects(s.get(key), InvalidStateKeyError);
          await assert.rejects(s.set(key, 1), InvalidStateKeyError);
          await assert.rejects(s.delete(key), InvalidStateKeyError);
          await assert.rejects(s.incr(key), InvalidStateKeyError);
          await assert.rejects(s.compareAndSet(key, null, 1), InvalidStateKeyError);
        });
      }

      it('accepts a key of exactly 512 bytes', async () => {
        const s = store.scoped(ns, fn);
        await s.set('é'.repeat(256), 1);
        assert.equal((await s.get('é'.repeat(256)))?.value, 1);
      });

      it('refuses names that are not Kubernetes names', () => {
        for (const [namespace, name] of [
          ['Team', 'fn'],
          ['team', 'a:b'],
          ['', 'fn'],
          ['team', '*'],
        ] as const) {
          assert.throws(() => store.scoped(namespace, name), InvalidStoreInputError, `${namespace}/${name}`);
        }
      });
    });

    describe('expiry', () => {
      it('keeps a key with a TTL until it has passed, then it is gone', async () => {
        const s = store.scoped(ns, fn);
        const ttl = shortTtl(f.clock);
        await s.set('k', 'v', { ttlMs: ttl });
        await waitOutTtl(f.clock, ttl, async () => (await s.get('k')) === undefined, 'a key with a TTL');
        assert.equal(await s.delete('k'), false);
        assert.equal(await s.incr('k'), 1, 'an expired key counts as missing');
      });

      it('sets the TTL asked for, and clears it on a set without one', async () => {
        const s = store.scoped(ns, fn);
        await s.set('k', 1, { ttlMs: 60_000 });
        const ttl = await f.ttlOf(ns, fn, 'k');
        assert.ok(ttl !== undefined && ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
        await s.set('k', 2);
        assert.equal(await f.ttlOf(ns, fn, 'k'), undefined);
      });

      it('keeps the TTL through incr', async () => {
        const s = store.scoped(ns, fn);
        await s.set('k', 1, { ttlMs: 60_000 });
        await s.incr('k');
        const ttl = await f.ttlOf(ns, fn, 'k');
        assert.ok(ttl !== undefined && ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
        await s.incr('fresh');
        assert.equal(await f.ttlOf(ns, fn, 'fresh'), undefined);
      });

      it('sets or clears the TTL on compareAndSet like set', async () => {
        const s = store.scoped(ns, fn);
        const created = await s.compareAndSet('k', null, 1, { ttlMs: 30_000 });
        const ttl = await f.ttlOf(ns, fn, 'k');
        assert.ok(ttl !== undefined && ttl > 20_000 && ttl <= 30_000, `ttl ${ttl}`);
        await s.compareAndSet('k', created.ok ? created.version : '', 2);
        assert.equal(await f.ttlOf(ns, fn, 'k'), undefined);
      });

      it('lets compareAndSet with null create a key again once it expired', async () => {
        const s = store.scoped(ns, fn);
        const ttl = shortTtl(f.clock);
        await s.compareAndSet('lock', null, 'a', { ttlMs: ttl });
        assert.equal((await s.compareAndSet('lock', null, 'b')).ok, false);
        await waitOutTtl(f.clock, ttl, async () => (await s.get('lock')) === undefined, 'the key');
        assert.equal((await s.compareAndSet('lock', null, 'b')).ok, true);
      });

      for (const ttlMs of [0, -1, 1.5, Number.NaN, '100' as unknown as number]) {
        it(`refuses ttlMs ${String(ttlMs)}`, async () => {
          const s = store.scoped(ns, fn);
          await assert.rejects(s.set('k', 1, { ttlMs }), InvalidStateValueError);
          await assert.rejects(s.compareAndSet('k', null, 1, { ttlMs }), InvalidStateValueError);
          assert.equal(await s.get('k'), undefined);
        });
      }
    });

    describe('scopes', () => {
      it('keeps the same key apart for two functions and two namespaces', async () => {
        const a = store.scoped(ns, fn);
        const b = store.scoped(ns, 'other');
        const c = store.scoped('team-b', fn);
        await a.set('k', 'a');
        await b.set('k', 'b');
        await c.set('k', 'c');
        assert.equal((await a.get('k'))?.value, 'a');
        assert.equal((await b.get('k'))?.value, 'b');
        assert.equal((await c.get('k'))?.value, 'c');
        await a.delete('k');
        assert.equal((await b.get('k'))?.value, 'b');
      });

      it('does not let a function whose name extends another reach its keys', async () => {
        await store.scoped(ns, 'fn').set('x:y', 'secret');
        assert.equal(await store.scoped(ns, 'fn-x').get('y'), undefined);
        assert.equal(await store.scoped(ns, 'fn-x').get('x:y'), undefined);
      });

      it('clears one function, counting its keys, and leaves the others', async () => {
        const a = store.scoped(ns, fn);
        const b = store.scoped(ns, 'other');
        for (let i = 0; i < 30; i++) await a.set(`k${i}`, i);
        await b.set('k0', 'stays');
        assert.equal(await store.clear(ns, fn), 30);
        assert.equal(await a.get('k0'), undefined);
        assert.equal((await b.get('k0'))?.value, 'stays');
        assert.equal(await store.clear(ns, fn), 0);
      });
    });
  });
}
