import assert from 'node:assert/strict';
import type { ManualClock } from '@nimbus/testkit';
import type { ClaimStore } from '../../src/claim-store.js';
import { InvalidStoreInputError } from '../../src/errors.js';
import { shortTtl, waitOutTtl } from './expiry.js';

export interface ClaimFixture {
  /** Another handle on the fixture's claims (another gateway replica). */
  open(): ClaimStore;
  clock?: ManualClock;
  close(): Promise<void>;
}

/** The rules of the ClaimStore port, run against every adapter. */
export function describeClaimStoreContract(adapter: string, setUp: () => Promise<ClaimFixture>): void {
  describe(`ClaimStore contract: ${adapter}`, () => {
    let f: ClaimFixture;
    let claims: ClaimStore;
    const tick = 'cron:team-a/cleanup:2025-01-01T00:05:00Z';

    beforeEach(async () => {
      f = await setUp();
      claims = f.open();
    });
    afterEach(() => f.close());

    it('gives a free key to its first claimant only, not even to the same owner twice', async () => {
      assert.equal(await claims.claim(tick, 'gw-1', 60_000), true);
      assert.equal(await claims.claim(tick, 'gw-2', 60_000), false);
      assert.equal(await claims.claim(tick, 'gw-1', 60_000), false);
      assert.equal(await claims.claim(`${tick}-next`, 'gw-2', 60_000), true, 'another key is free');
    });

    it('gives the key to exactly one of many concurrent claimants', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => f.open().claim(tick, `gw-${i}`, 60_000)),
      );
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('releases only for the owner', async () => {
      await claims.claim(tick, 'gw-1', 60_000);
      assert.equal(await claims.release(tick, 'gw-2'), false);
      assert.equal(
        await claims.claim(tick, 'gw-2', 60_000),
        false,
        'a release by another owner left it held',
      );
      assert.equal(await claims.release(tick, 'gw-1'), true);
      assert.equal(await claims.claim(tick, 'gw-2', 60_000), true);
      assert.equal(await claims.release(tick, 'gw-1'), false, 'gw-1 no longer holds it');
    });

    it('frees the key when the TTL passes, and a late release by the old owner does not free it again', async () => {
      const ttl = shortTtl(f.clock);
      await claims.claim(tick, 'gw-1', ttl);
      await waitOutTtl(f.clock, ttl, async () => claims.claim(tick, 'gw-2', 60_000), 'the claim to expire');
      assert.equal(await claims.release(tick, 'gw-1'), false);
      assert.equal(await claims.claim(tick, 'gw-3', 60_000), false, 'gw-2 still holds it');
    });

    it('tells who holds a key, and nobody once it is released', async () => {
      assert.equal(await claims.holder(tick), undefined);
      await claims.claim(tick, 'gw-1', 60_000);
      assert.equal(await f.open().holder(tick), 'gw-1');
      await claims.release(tick, 'gw-1');
      assert.equal(await claims.holder(tick), undefined);
    });

    it('renews a hold only for its owner, and a renewed hold outlives its first TTL', async () => {
      const ttl = shortTtl(f.clock);
      await claims.claim(tick, 'gw-1', ttl);
      assert.equal(await claims.renew(tick, 'gw-2', 60_000), false, 'gw-2 does not hold it');
      assert.equal(await claims.renew(tick, 'gw-1', 600_000), true);
      // A key claimed alongside with the first TTL shows when that TTL has passed.
      await claims.claim(`${tick}-control`, 'gw-1', ttl);
      await waitOutTtl(
        f.clock,
        ttl,
        async () => (await claims.holder(`${tick}-control`)) === undefined,
        'the control claim to expire',
      );
      assert.equal(await claims.holder(tick), 'gw-1', 'the renewed hold is still there after the first TTL');
      assert.equal(await claims.renew(`${tick}-free`, 'gw-1', 60_000), false, 'a free key is not renewed');
      assert.equal(await claims.holder(`${tick}-free`), undefined, 'nor made');
    });

    it('takes a key over from its holder, answering who held it; the old owner can then neither renew nor release it', async () => {
      assert.equal(await claims.takeOver(tick, 'gw-1', 60_000), undefined, 'it was free');
      assert.equal(await f.open().takeOver(tick, 'gw-2', 60_000), 'gw-1');
      assert.equal(await claims.holder(tick), 'gw-2');
      assert.equal(await claims.renew(tick, 'gw-1', 60_000), false);
      assert.equal(await claims.release(tick, 'gw-1'), false);
      assert.equal(await claims.holder(tick), 'gw-2');
      assert.equal(await claims.claim(tick, 'gw-3', 60_000), false, 'a taken-over key is held');
    });

    it('a taken-over key expires with the TTL the new owner gave it', async () => {
      const ttl = shortTtl(f.clock);
      await claims.claim(tick, 'gw-1', 600_000);
      await claims.takeOver(tick, 'gw-2', ttl);
      await waitOutTtl(
        f.clock,
        ttl,
        async () => (await claims.holder(tick)) === undefined,
        'the new hold to expire',
      );
    });

    it('refuses empty keys and owners and TTLs that are not positive whole numbers', async () => {
      await assert.rejects(claims.claim('', 'gw-1', 1_000), InvalidStoreInputError);
      await assert.rejects(claims.claim(tick, '', 1_000), InvalidStoreInputError);
      for (const ttl of [0, -5, 1.5, Number.NaN]) {
        await assert.rejects(claims.claim(tick, 'gw-1', ttl), InvalidStoreInputError, String(ttl));
      }
      await assert.rejects(claims.release(tick, ''), InvalidStoreInputError);
      await assert.rejects(claims.renew(tick, 'gw-1', 0), InvalidStoreInputError);
      await assert.rejects(claims.takeOver(tick, 'gw-1', -1), InvalidStoreInputError);
      await assert.rejects(claims.holder(''), InvalidStoreInputError);
      assert.equal(await claims.claim(tick, 'gw-1', 1_000), true, 'nothing was claimed by the refused calls');
    });
  });
}
