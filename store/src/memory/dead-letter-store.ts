import { type Clock, systemClock } from '@nimbus/api/clock';
import { checkQuery, deadLetterMember, encodeCursor, toDeadLetter } from '../dead-letter-input.js';
import {
  type AddedDeadLetter,
  DEFAULT_DEAD_LETTER_LIMITS,
  type DeadLetter,
  type DeadLetterLimits,
  type DeadLetterPage,
  type DeadLetterQuery,
  type DeadLetterStore,
  type NewDeadLetter,
} from '../dead-letter-store.js';
import { checkId } from '../keys.js';
import { ExpiringMap } from './expiring-map.js';

interface Stored {
  json: string;
  member: string;
  namespace: string;
  fn: string;
}

/** Dead letters for local mode: the Redis adapter's order, paging, retention and bounds, on the injected clock. */
export class MemoryDeadLetterStore implements DeadLetterStore {
  private readonly entries: ExpiringMap<Stored>;
  private readonly limits: DeadLetterLimits;

  constructor(clock: Clock = systemClock, limits: Partial<DeadLetterLimits> = {}) {
    this.entries = new ExpiringMap(clock);
    this.limits = { ...DEFAULT_DEAD_LETTER_LIMITS, ...limits };
  }

  async add(input: NewDeadLetter): Promise<AddedDeadLetter> {
    const entry = toDeadLetter(input, this.limits.maxBodyBytes);
    this.entries.set(
      entry.id,
      {
        json: JSON.stringify(entry),
        member: deadLetterMember(entry),
        namespace: entry.namespace,
        fn: entry.function,
      },
      entry.failedAt + this.limits.retentionMs,
    );
    const ofFunction = this.entries
      .entries()
      .filter(([, s]) => s.namespace === entry.namespace && s.fn === entry.function)
      .sort(([, a], [, b]) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
    const evicted = ofFunction.slice(0, Math.max(0, ofFunction.length - this.limits.maxPerFunction));
    for (const [id] of evicted) this.entries.delete(id);
    return { entry, evicted: evicted.map(([id]) => id) };
  }

  async list(query: DeadLetterQuery = {}): Promise<DeadLetterPage> {
    const { namespace, fn, limit, after } = checkQuery(query);
    const matching = this.entries
      .entries()
      .map(([, stored]) => stored)
      .filter(
        (s) => (namespace === undefined || s.namespace === namespace) && (fn === undefined || s.fn === fn),
      )
      .filter((s) => after === undefined || s.member < after)
      .sort((a, b) => (a.member < b.member ? 1 : a.member > b.member ? -1 : 0));
    const page = matching.slice(0, limit);
    const last = page[page.length - 1];
    return {
      entries: page.map((s) => JSON.parse(s.json) as DeadLetter),
      ...(matching.length > limit && last !== undefined ? { cursor: encodeCursor(last.member) } : {}),
    };
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const stored = this.entries.get(checkId('dead-letter id', id));
    return stored === undefined ? undefined : (JSON.parse(stored.json) as DeadLetter);
  }

  async delete(id: string): Promise<boolean> {
    return this.entries.delete(checkId('dead-letter id', id));
  }

  async take(id: string): Promise<DeadLetter | undefined> {
    // No await between the read and the delete: that is what makes two takes exclusive.
    const stored = this.entries.get(checkId('dead-letter id', id));
    if (stored === undefined) return undefined;
    this.entries.delete(id);
    return JSON.parse(stored.json) as DeadLetter;
  }
}
