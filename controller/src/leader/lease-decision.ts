/** The parts of a coordination.k8s.io/v1 Lease that leader election reads. */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  renewTime?: string;
  acquireTime?: string;
  leaseTransitions?: number;
}

/** When this candidate last saw the record change, by its own clock (never the holder's). */
export interface Observation {
  record: string;
  at: number;
}

export type LeaseAction = 'create' | 'renew' | 'acquire' | 'wait';

/** A record's identity for noticing change: the holder and its last renewal. */
export function recordKey(lease: LeaseRecord): string {
  return `${lease.holderIdentity ?? ''}@${lease.renewTime ?? ''}`;
}

/**
 * What a candidate does with the Lease it just read. As in client-go, expiry is judged by how
 * long the record has gone unchanged on this candidate's own clock, so clock skew between
 * machines cannot make two leaders. An empty holder (released on shutdown) is free at once.
 * Pure.
 */
export function leaseAction(
  lease: LeaseRecord | undefined,
  identity: string,
  observed: Observation | undefined,
  now: number,
): LeaseAction {
  if (lease === undefined) return 'create';
  if (lease.holderIdentity === identity) return 'renew';
  if (lease.holderIdentity === undefined || lease.holderIdentity === '') return 'acquire';
  const durationMs = (lease.leaseDurationSeconds ?? 15) * 1000;
  if (observed === undefined || observed.record !== recordKey(lease)) return 'wait';
  return now - observed.at >= durationMs ? 'acquire' : 'wait';
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
