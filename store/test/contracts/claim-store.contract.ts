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

    it('refuses empty keys and owners and TTLs that are not positive whole numbers', async () => {
      await assert.rejects(claims.claim('', 'gw-1', 1_000), InvalidStoreInputError);
      await assert.rejects(claims.claim(tick, '', 1_000), InvalidStoreInputError);
      for (const ttl of [0, -5, 1.5, Number.NaN]) {
        await assert.rejects(claims.claim(tick, 'gw-1', ttl), InvalidStoreInputError, String(ttl));
      }
      await assert.rejects(claims.release(tick, ''), InvalidStoreInputError);
      assert.equal(await claims.claim(tick, 'gw-1', 1_000), true, 'nothing was claimed by the refused calls');
    });
  });
}
