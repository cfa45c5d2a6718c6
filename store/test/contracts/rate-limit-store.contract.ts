import assert from 'node:assert/strict';
import { type ManualClock, eventually } from '@nimbus/testkit';
import { InvalidStoreInputError } from '../../src/errors.js';
import type { RateBucket, RateLimitStore } from '../../src/rate-limit-store.js';

export interface RateLimitFixture {
  /** Another handle on the fixture's buckets (another gateway replica). */
  open(): RateLimitStore;
  /** Present for the memory store: time moves when the test steps it. */
  clock?: ManualClock;
  close(): Promise<void>;
}

/** The rules of the RateLimitStore port, run against every adapter. */
export function describeRateLimitStoreContract(
  adapter: string,
  setUp: () => Promise<RateLimitFixture>,
): void {
  describe(`RateLimitStore contract: ${adapter}`, () => {
    let f: RateLimitFixture;
    let store: RateLimitStore;
    // Slow enough that no token comes back while a test takes its burst on a real clock.
    const fn: RateBucket = { key: 'fn:team-a/resize', perSecond: 0.2, burst: 3 };
    const key: RateBucket = { key: 'key:3f9c2e1a', perSecond: 0.2, burst: 5 };

    beforeEach(async () => {
      f = await setUp();
      store = f.open();
    });
    afterEach(() => f.close());

    const takeMany = async (n: number, buckets: RateBucket[], s = store) => {
      const out = [];
      for (let i = 0; i < n; i++) out.push(await s.take(buckets));
      return out;
    };

    it('admits a burst, then refuses with the wait until a token is back (5 s at 0.2/s)', async () => {
      const decisions = await takeMany(4, [fn]);
      assert.deepEqual(
        decisions.slice(0, 3).map((d) => d.allowed),
        [true, true, true],
      );
      const refused = decisions[3];
      assert.ok(refused !== undefined && !refused.allowed, 'the fourth is refused');
      assert.equal(refused.bucket, 0);
      assert.ok(refused.retryAfterMs > 4_000 && refused.retryAfterMs <= 5_000, String(refused.retryAfterMs));
    });

    it('is one bucket for every handle on it (two gateways share the limit)', async () => {
      const other = f.open();
      await takeMany(2, [fn]);
      const [third, fourth] = await takeMany(2, [fn], other);
      assert.equal(third?.allowed, true);
      assert.equal(fourth?.allowed, false);
    });

    it('many concurrent takes admit exactly the burst', async () => {
      const all = await Promise.all(Array.from({ length: 30 }, () => f.open().take([key])));
      assert.equal(all.filter((d) => d.allowed).length, 5);
    });

    it('takes from all buckets or none: refused by one, the others keep their tokens', async () => {
      await takeMany(3, [fn]);
      const refused = await store.take([key, fn]);
      assert.deepEqual(refused.allowed ? 'allowed' : refused.bucket, 1, 'the function bucket refused');
      const keyOnly = await takeMany(6, [key]);
      assert.deepEqual(
        keyOnly.map((d) => d.allowed),
        [true, true, true, true, true, false],
        'the key bucket lost no token to the refused call',
      );
    });

    it('buckets with different keys do not touch each other', async () => {
      await takeMany(3, [fn]);
      assert.equal((await store.take([{ ...fn, key: 'fn:team-a/other' }])).allowed, true);
    });

    it('refills at its rate: a token is back after the wait it named', async () => {
      const fast: RateBucket = { key: 'fn:fast', perSecond: 20, burst: 1 };
      assert.equal((await store.take([fast])).allowed, true);
      const refused = await store.take([fast]);
      assert.ok(!refused.allowed);
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 50, String(refused.retryAfterMs));
      if (f.clock !== undefined) {
        f.clock.advance(refused.retryAfterMs - 1);
        assert.equal((await store.take([fast])).allowed, false, 'not a millisecond early');
        f.clock.advance(1);
        assert.equal((await store.take([fast])).allowed, true);
        return;
      }
      await eventually(
        async () => ((await store.take([fast])).allowed ? true : undefined),
        5_000,
        'a token to come back',
      );
    });

    it('refuses no buckets, too many, bad keys, rates and bursts before touching anything', async () => {
      await assert.rejects(store.take([]), InvalidStoreInputError);
      await assert.rejects(
        store.take(Array.from({ length: 9 }, (_, i) => ({ ...fn, key: `b${i}` }))),
        InvalidStoreInputError,
      );
      for (const bad of [
        { ...fn, key: '' },
        { ...fn, key: 'has space' },
        { ...fn, perSecond: 0 },
        { ...fn, perSecond: Number.NaN },
        { ...fn, burst: 0 },
        { ...fn, burst: 1.5 },
      ])
        await assert.rejects(store.take([bad]), InvalidStoreInputError, JSON.stringify(bad));
      assert.deepEqual(
        (await takeMany(3, [fn])).map((d) => d.allowed),
        [true, true, true],
        'nothing was taken by the refused calls',
      );
    });
  });
}
