import { type Clock, systemClock } from '@nimbus/api/clock';
import {
  type CallFields,
  callFromFields,
  checkStatuses,
  encodeStatus,
  newCallFields,
  patchFields,
} from '../call-record-fields.js';
import {
  type CallPatch,
  type CallRecord,
  type CallStatus,
  type CallStore,
  type CallStoreLimits,
  DEFAULT_CALL_STORE_LIMITS,
  type NewCallRecord,
  type TransitionResult,
} from '../call-store.js';
import { CallExistsError } from '../errors.js';
import { checkId } from '../keys.js';
import { ExpiringMap } from './expiring-map.js';

/** Call records for local mode: the Redis adapter's rules, its field encoding, and expiry by the injected clock. */
export class MemoryCallStore implements CallStore {
  private readonly records: ExpiringMap<CallFields>;
  private readonly limits: CallStoreLimits;

  constructor(
    private readonly clock: Clock = systemClock,
    limits: Partial<CallStoreLimits> = {},
  ) {
    this.records = new ExpiringMap(clock);
    this.limits = { ...DEFAULT_CALL_STORE_LIMITS, ...limits };
  }

  async create(record: NewCallRecord): Promise<CallRecord> {
    const fields = newCallFields(record, this.limits);
    if (this.records.has(record.id)) throw new CallExistsError(record.id);
    this.records.set(record.id, fields, this.clock.now() + this.limits.ttlMs);
    return callFromFields(fields) as CallRecord;
  }

  async get(id: string): Promise<CallRecord | undefined> {
    const fields = this.records.get(checkId('call id', id));
    return fields === undefined ? undefined : callFromFields(fields);
  }

  async transition(id: string, from: readonly CallStatus[], patch: CallPatch): Promise<TransitionResult> {
    checkId('call id', id);
    const allowed = checkStatuses(from).map(encodeStatus);
    const update = patchFields(patch, this.limits);
    const current = this.records.get(id);
    if (current === undefined) return { applied: false, record: undefined };
    if (!allowed.includes(current.status ?? '')) return { applied: false, record: callFromFields(current) };
    const next = { ...current, ...update };
    this.records.set(id, next, this.clock.now() + this.limits.ttlMs);
    return { applied: true, record: callFromFields(next) };
  }

  /** Milliseconds until a record expires (for tests). */
  remainingTtl(id: string): number | undefined {
    const expiresAt = this.records.expiresAt(id);
    return expiresAt === undefined ? undefined : expiresAt - this.clock.now();
  }
}
