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
  /**
   * The request as it was delivered, its body kept up to the store's limit so one failing caller
   * cannot fill Redis. A truncated body cannot be sent again faithfully: redrive refuses it.
   */
  request: {
    headers: Record<string, string>;
    body: string;
    encoding: BodyEncoding;
    /** The body was cut at the store's limit (false on entries stored before the limit existed). */
    truncated?: boolean;
    /** Bytes in the whole body, before any cut. */
    size?: number;
    /**
     * Credential headers (Authorization, Cookie…, see @nimbus/api's credential-headers) the
     * request had and the store did not keep: only their names. A redrive would send the call
     * without them.
     */
    removedHeaders?: string[];
  };
  /** Epoch milliseconds. */
  failedAt: number;
}

export interface NewDeadLetter extends Omit<DeadLetter, 'request'> {
  /** Credential headers in `headers` are dropped, their names added to `removedHeaders`. */
  request: { headers: Record<string, string>; body: Uint8Array | string; removedHeaders?: string[] };
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

/** What an add did: the entry as stored, and the older entries of its function it pushed out. */
export interface AddedDeadLetter {
  entry: DeadLetter;
  /** Ids dropped, oldest first, to keep the function within maxPerFunction. */
  evicted: string[];
}

export interface DeadLetterStore {
  /**
   * Stores the entry; when its function then holds more than maxPerFunction entries, the oldest
   * are removed in the same step (a flood of failures keeps the newest, and memory stays bounded).
   */
  add(entry: NewDeadLetter): Promise<AddedDeadLetter>;
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
  /** Request bodies beyond this are cut (request.truncated: true). */
  maxBodyBytes: number;
  /** Entries kept per function; adding one more drops the oldest. */
  maxPerFunction: number;
}

/** At most 200 × 64 KiB ≈ 12.5 MiB of bodies per function, whatever its callers send. */
export const DEFAULT_DEAD_LETTER_LIMITS: Readonly<DeadLetterLimits> = Object.freeze({
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  maxBodyBytes: 64 * 1024,
  maxPerFunction: 200,
});
