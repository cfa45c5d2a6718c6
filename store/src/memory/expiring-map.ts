import type { Clock } from '@nimbus/api/clock';

interface Slot<V> {
  value: V;
  expiresAt: number | undefined;
}

/**
 * A Map whose entries can expire at a time on the injected clock: what the in-memory adapters
 * use where Redis has PEXPIRE. Expiry is checked on access, so no timers run and a test
 * moves time by stepping its clock.
 */
export class ExpiringMap<V> {
  private readonly slots = new Map<string, Slot<V>>();

  constructor(private readonly clock: Clock) {}

  get(key: string): V | undefined {
    return this.live(key)?.value;
  }

  has(key: string): boolean {
    return this.live(key) !== undefined;
  }

  /** The expiry time in epoch ms; undefined when the key has none or is absent. */
  expiresAt(key: string): number | undefined {
    return this.live(key)?.expiresAt;
  }

  set(key: string, value: V, expiresAt: number | undefined): void {
    this.slots.set(key, { value, expiresAt });
  }

  /** Resolves whether a live entry was there. */
  delete(key: string): boolean {
    const existed = this.live(key) !== undefined;
    this.slots.delete(key);
    return existed;
  }

  /** Live entries (a snapshot, so the map may be changed while iterating). */
  entries(): [string, V][] {
    const out: [string, V][] = [];
    for (const key of [...this.slots.keys()]) {
      const slot = this.live(key);
      if (slot !== undefined) out.push([key, slot.value]);
    }
    return out;
  }

  private live(key: string): Slot<V> | undefined {
    const slot = this.slots.get(key);
    if (slot?.expiresAt !== undefined && slot.expiresAt <= this.clock.now()) {
      this.slots.delete(key);
      return undefined;
    }
    return slot;
  }
}
