import type { Clock } from '@nimbus/api';
import type { EndpointAddress } from './route.js';

/**
 * How long an endpoint no EndpointSlice lists ready is used. Long enough for the slice to catch up
 * (well under a second, or the kubelet's next probe), short enough that a pod which never becomes
 * ready in its slice is not trusted for long.
 */
export const PROVISIONAL_TTL_MS = 10_000;

interface Entry {
  readonly address: EndpointAddress;
  readonly timer: unknown;
}

/**
 * Endpoints the gateway knows of before any EndpointSlice lists them ready: a pool pod named by a
 * wake's answer, or a new pod the gateway's own probe found ready. Each is kept per route until a
 * slice lists the same host:port ready (the slice's entry rules from then on) or the TTL passes, when
 * it goes and `expired` is told, so the route is published again without it.
 */
export class ProvisionalEndpoints {
  /** route key → endpoint id → entry */
  private readonly byRoute = new Map<string, Map<string, Entry>>();

  constructor(
    private readonly clock: Clock,
    private readonly expired: (key: string) => void,
    private readonly ttlMs = PROVISIONAL_TTL_MS,
  ) {}

  /** Adds the address for its TTL; false when the route has it already (its TTL is not renewed). */
  add(key: string, address: EndpointAddress): boolean {
    let entries = this.byRoute.get(key);
    if (entries?.has(address.id) === true) return false;
    if (entries === undefined) {
      entries = new Map();
      this.byRoute.set(key, entries);
    }
    const timer = this.clock.setTimeout(() => {
      if (this.drop(key, address.id)) this.expired(key);
    }, this.ttlMs);
    entries.set(address.id, { address, timer });
    return true;
  }

  /** The route's provisional addresses; the same empty array when it has none. */
  of(key: string): readonly EndpointAddress[] {
    const entries = this.byRoute.get(key);
    return entries === undefined ? NONE : [...entries.values()].map((e) => e.address);
  }

  /** The route's source lists these ready now: their provisional entries are done with. */
  listed(key: string, addresses: readonly EndpointAddress[]): void {
    if (!this.byRoute.has(key)) return;
    for (const address of addresses) this.drop(key, address.id);
  }

  /** The route went: its entries and their timers too. */
  forget(key: string): void {
    for (const entry of this.byRoute.get(key)?.values() ?? []) this.clock.clearTimeout(entry.timer);
    this.byRoute.delete(key);
  }

  private drop(key: string, id: string): boolean {
    const entries = this.byRoute.get(key);
    const entry = entries?.get(id);
    if (entries === undefined || entry === undefined) return false;
    this.clock.clearTimeout(entry.timer);
    entries.delete(id);
    if (entries.size === 0) this.byRoute.delete(key);
    return true;
  }
}

const NONE: readonly EndpointAddress[] = Object.freeze([]);
