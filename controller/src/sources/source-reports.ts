import type { TriggerHealthSeen } from './trigger-status.js';

/** The most source triggers one report may name. */
const MAX_SOURCES = 10_000;
const KEY = /^[a-z0-9][-a-z0-9]{0,62}\/[a-z][-a-z0-9]{0,62}\/[a-z][-a-z0-9]{0,31}$/;
const MAX_ERROR = 500;

/** A report's `sources`, checked (untrusted JSON); throws with the field named. Pure. */
export function parseSourceHealth(value: unknown): Record<string, TriggerHealthSeen> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TypeError('sources: must be an object keyed by namespace/function/trigger');
  const entries = Object.entries(value);
  if (entries.length > MAX_SOURCES) throw new TypeError(`sources: at most ${MAX_SOURCES} triggers`);
  const out: Record<string, TriggerHealthSeen> = {};
  for (const [key, raw] of entries) {
    const field = `sources["${key.slice(0, 200)}"]`;
    if (!KEY.test(key)) throw new TypeError(`${field}: the key must be namespace/function/trigger`);
    const h = (raw ?? {}) as Record<string, unknown>;
    if (typeof h.connected !== 'boolean') throw new TypeError(`${field}.connected: must be true or false`);
    const seen: { -readonly [K in keyof TriggerHealthSeen]: TriggerHealthSeen[K] } = {
      connected: h.connected,
    };
    for (const name of ['backlog', 'lastEventAt'] as const) {
      const n = h[name];
      if (n === undefined) continue;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
        throw new TypeError(`${field}.${name}: must be a whole number, 0 or more`);
      seen[name] = n;
    }
    if (h.lastError !== undefined) {
      if (typeof h.lastError !== 'string') throw new TypeError(`${field}.lastError: must be a string`);
      seen.lastError = h.lastError.slice(0, MAX_ERROR);
    }
    out[key] = seen;
  }
  return out;
}

/**
 * One trigger's health over every gateway that reported on it: connected when any reader is (a
 * queue read by several gateways), the largest backlog, the latest event, and the error of a
 * disconnected one when none is connected. Undefined when none reported. Pure.
 */
export function combinedHealth(seen: readonly TriggerHealthSeen[]): TriggerHealthSeen | undefined {
  if (seen.length === 0) return undefined;
  const connected = seen.some((h) => h.connected);
  const backlogs = seen.flatMap((h) => (h.backlog === undefined ? [] : [h.backlog]));
  const events = seen.flatMap((h) => (h.lastEventAt === undefined ? [] : [h.lastEventAt]));
  const lastError = connected ? undefined : seen.find((h) => h.lastError !== undefined)?.lastError;
  return {
    connected,
    ...(backlogs.length === 0 ? {} : { backlog: Math.max(...backlogs) }),
    ...(events.length === 0 ? {} : { lastEventAt: Math.max(...events) }),
    ...(lastError === undefined ? {} : { lastError }),
  };
}

/** `namespace/name` of the Functions whose triggers' connected state or error differ between two views. Pure. */
export function changedFunctions(
  before: (key: string) => TriggerHealthSeen | undefined,
  after: (key: string) => TriggerHealthSeen | undefined,
  keys: Iterable<string>,
): string[] {
  const out = new Set<string>();
  for (const key of keys) {
    const a = before(key);
    const b = after(key);
    if (a?.connected !== b?.connected || a?.lastError !== b?.lastError)
      out.add(key.split('/').slice(0, 2).join('/'));
  }
  return [...out];
}
