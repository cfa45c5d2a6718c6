import type { BodyEncoding } from './stored-body.js';

export type CallStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const CALL_STATUSES: readonly CallStatus[] = Object.freeze([
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
]);

/** Statuses after which a call has an outcome. */
export const FINISHED_CALL_STATUSES: readonly CallStatus[] = Object.freeze([
  'succeeded',
  'failed',
  'cancelled',
]);

export interface CallTimings {
  /** From acceptance to the start of the attempt that finished. */
  waitMs?: number;
  /** Time spent waking the function from zero, when it was. */
  initMs?: number;
  durationMs?: number;
}

export interface CallResult {
  statusCode: number;
  headers: Record<string, string>;
  /** Text when the body was valid UTF-8, base64 otherwise (see `encoding`); cut at the store's limit. */
  body: string;
  encoding: BodyEncoding;
  truncated: boolean;
  /** Bytes in the whole response body, before truncation. */
  size: number;
}

/** The record of one async call (GET /system/calls/{id}). Times are epoch milliseconds. */
export interface CallRecord {
  id: string;
  namespace: string;
  function: string;
  status: CallStatus;
  attempts: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  timings: CallTimings;
  result?: CallResult;
  lastError?: string;
  callbackUrl?: string;
  /**
   * Why the result never reached the callback URL, once the gateway gave up on it (a refused
   * destination, the receiver's last answer or connection error). Absent while none failed.
   */
  callbackError?: string;
  /**
   * SHA-256 (hex) of the token that lets its caller cancel the call; the token itself is only
   * ever in the 202 that queued it. Never shown by the gateway's answers.
   */
  cancelTokenHash?: string;
  /**
   * The W3C trace id of the call's spans (32 hex digits), when the gateway that queued it traced
   * it and the trace was sampled: where a dashboard links to the trace.
   */
  traceId?: string;
}

export interface CallResultInput {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
  /**
   * Bytes in the whole response when `body` is only its start (the gateway never holds a large
   * answer whole); the result is then stored truncated with this size. Default: the body's own.
   */
  size?: number;
}

/** What a transition may change. Fields given replace what is stored; timings merge field by field. */
export interface CallPatch {
  status?: CallStatus;
  attempts?: number;
  startedAt?: number;
  finishedAt?: number;
  timings?: CallTimings;
  /** Stored up to the store's body limit, with `truncated` set when cut. */
  result?: CallResultInput;
  lastError?: string;
  callbackError?: string;
  /** Replaces the cancel token's hash (a call queued again under a new token). */
  cancelTokenHash?: string;
  /** Replaces the trace id (a call queued again starts a trace of its own). */
  traceId?: string;
}

export interface NewCallRecord extends Omit<CallPatch, 'status'> {
  id: string;
  namespace: string;
  function: string;
  createdAt: number;
  /** 'queued' when not given. */
  status?: CallStatus;
  callbackUrl?: string;
}

export interface TransitionResult {
  applied: boolean;
  /** The record after the transition, or as it stands when refused; undefined when there is none. */
  record: CallRecord | undefined;
}

/**
 * Async call records. `transition` is the only way a record changes, and it applies only when
 * the current status is one the caller expects: so a cancelled call never starts, and a late
 * duplicate delivery (JetStream is at-least-once) cannot overwrite a finished call; the
 * caller learns which and acts once.
 */
export interface CallStore {
  /** Refuses an id that exists with CallExistsError. */
  create(record: NewCallRecord): Promise<CallRecord>;
  get(id: string): Promise<CallRecord | undefined>;
  /** Atomic: applies `patch` only when the record's status is one of `from`; refreshes the record's TTL when it does. */
  transition(id: string, from: readonly CallStatus[], patch: CallPatch): Promise<TransitionResult>;
}

export interface CallStoreLimits {
  /** How long a record is kept after it was created or last changed. */
  ttlMs: number;
  /** Result bodies beyond this are cut (truncated: true). */
  maxResultBodyBytes: number;
}

export const DEFAULT_CALL_STORE_LIMITS: Readonly<CallStoreLimits> = Object.freeze({
  ttlMs: 24 * 60 * 60 * 1000,
  maxResultBodyBytes: 1024 * 1024,
});
