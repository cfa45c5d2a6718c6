import { type Clock, systemClock } from '@nimbus/api/clock';
import { checkClaim } from '../claim-input.js';
import type { ClaimStore } from '../claim-store.js';
import { checkId } from '../keys.js';
import { ExpiringMap } from './expiring-map.js';

/** Claims for local mode (one process, so a Map is exclusive), expiring on the injected clock. */
export class MemoryClaimStore implements ClaimStore {
  private readonly owners: ExpiringMap<string>;
  private claims = 0;

  constructor(private readonly clock: Clock = systemClock) {
    this.owners = new ExpiringMap(clock);
  }

  async claim(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkClaim(key, owner, ttlMs);
    // A cron tick's claim is never looked at again once it expires: sweep now and then, or an
    // every-second schedule would leave 86 400 of them a day.
    if (++this.claims % 1024 === 0) this.owners.entries();
    if (this.owners.has(key)) return false;
    this.owners.set(key, owner, this.clock.now() + ttlMs);
    return true;
  }

  async release(key: string, owner: string): Promise<boolean> {
    checkClaim(key, owner);
    if (this.owners.get(key) !== owner) return false;
    return this.owners.delete(key);
  }

  async holder(key: string): Promise<string | undefined> {
    checkId('claim key', key);
    return this.owners.get(key);
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkClaim(key, owner, ttlMs);
    if (this.owners.get(key) !== owner) return false;
    this.owners.set(key, owner, this.clock.now() + ttlMs);
    return true;
  }

  async takeOver(key: string, owner: string, ttlMs: number): Promise<string | undefined> {
    checkClaim(key, owner, ttlMs);
    const previous = this.owners.get(key);
    this.owners.set(key, owner, this.clock.now() + ttlMs);
    return previous;
  }
}
