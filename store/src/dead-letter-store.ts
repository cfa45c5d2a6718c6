import type { BodyEncoding } from './stored-body.js';

/** A message that ran out of attempts, kept so an operator can inspect, redrive or delete it. */
export interface DeadLetter {
  /** The call id. Adding an id again replaces the earlier entry (a redriven call that failed again). */
  id: string;
  namespace: string;
  function: string;
  /** Why delivery stopped, e.g. "max-deliver" or "timeout". */
  reason: string;
  lastError: string;
  attempts: number;
  /** The request as it was delivered, kept whole so it can be sent again. */
  request: { headers: Record<string, string>; body: string; encoding: BodyEncoding };
  /** Epoch milliseconds. */
  failedAt: number;
}

export interface NewDeadLetter extends Omit<DeadLetter, 'request'> {
  request: { headers: Record<string, string>; body: Uint8Array | string };
}

export interface DeadLetterQuery {
  namespace?: string;
  /** Needs `namespace`. */
  function?: string;
  /** 1-1000, 50 when not given. */
  limit?: number;
  /** From the previous page. */
  cursor?: string;
}

export interface DeadLetterPage {
  /** Newest first (by failedAt, then id). */
  entries: DeadLetter[];
  /** Pass it back for the next page; undefined on the last page. */
  cursor?: string;
}

export interface DeadLetterStore {
  add(entry: NewDeadLetter): Promise<DeadLetter>;
  /** Stable under concurrent adds and deletes: a page starts strictly after the previous one's last entry. */
  list(query?: DeadLetterQuery): Promise<DeadLetterPage>;
  get(id: string): Promise<DeadLetter | undefined>;
  delete(id: string): Promise<boolean>;
  /** Atomic get-and-delete, for redrive: of two takes of one id, only one gets the entry. */
  take(id: string): Promise<DeadLetter | undefined>;
}

export interface DeadLetterLimits {
  /** How long after failedAt an entry is kept. */
  retentionMs: number;
}

export const DEFAULT_DEAD_LETTER_LIMITS: Readonly<DeadLetterLimits> = Object.freeze({
  retentionMs: 7 * 24 * 60 * 60 * 1000,
});
