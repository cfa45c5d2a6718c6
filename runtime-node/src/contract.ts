/**
 * The function contract (DESIGN §3): what a handler receives and may return. These types are
 * exported for function authors; nothing here has runtime behaviour.
 */
import type { Logger } from '@nimbus/api/log';

export type Headers = Readonly<Record<string, string | string[]>>;
export type Query = Readonly<Record<string, string | string[]>>;

/** CloudEvents 1.0 attributes plus `data` (bytes from `data_base64` arrive as a Buffer). */
export interface CloudEvent {
  readonly specversion: string;
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly datacontenttype?: string;
  readonly dataschema?: string;
  readonly subject?: string;
  readonly time?: string;
  readonly data?: unknown;
  readonly [extension: string]: unknown;
}

/** Route parameters by name. */
export type Params = Readonly<Record<string, string>>;

export interface FunctionEvent {
  readonly method: string;
  /** The request path as received, without the query string. */
  readonly path: string;
  /** Repeated keys become arrays. */
  readonly query: Query;
  /**
   * The parameters of the route that matched (`/orders/{id}` gives `{ id }`), percent-decoded;
   * empty for a call by /function/{name}.
   */
  readonly params: Params;
  /** Lower-cased names. */
  readonly headers: Headers;
  /** Parsed JSON, a string for text and forms, a Buffer otherwise; undefined without a body. */
  readonly body: unknown;
  readonly rawBody: Buffer;
  readonly cloudEvent?: CloudEvent;
  /**
   * With `spec.http.auth: jwt`: the claims of the caller's token, which the gateway verified
   * (issuer, audience, expiry, signature). The token itself is not passed on unless the Function
   * sets `forwardToken`. Absent for any other call.
   */
  readonly auth?: Readonly<Record<string, unknown>>;
}

export interface SetOptions {
  /** Expire the key this long after the write (fractions allowed, at least 0.001); without it the key never expires. */
  readonly ttlSeconds?: number;
}

/** A stored value with its version: an opaque string that changes on every write. */
export interface StateEntry {
  readonly value: unknown;
  readonly version: string;
}

/**
 * Keyed state scoped to this function and namespace (DESIGN §6): no other function can read or
 * write it. Values are plain JSON (objects, arrays, strings, finite numbers, booleans, null),
 * at most 64 KiB as JSON unless the platform says otherwise; keys are 1-512 bytes without control
 * characters. Failures reject with an Error whose `name` says what went wrong:
 * StateUnavailableError (the store cannot be reached; retry later), StateValueTooLargeError,
 * InvalidStateKeyError, InvalidStateValueError, StateNotAnIntegerError, StateRefusedError,
 * StateNotEnabledError. Uncaught, they answer 503, 413, 400, 400, 409, 500 and 500.
 */
export interface FunctionState {
  /** The value, or undefined when the key is absent or expired. */
  get(key: string): Promise<unknown>;
  /** The value and its version, for compareAndSet; undefined when absent. */
  getWithVersion(key: string): Promise<StateEntry | undefined>;
  /** Writes the value (replacing any expiry) and resolves its new version. */
  set(key: string, value: unknown, options?: SetOptions): Promise<string>;
  /** Resolves whether there was a key to delete. */
  delete(key: string): Promise<boolean>;
  /** Adds `by` (a safe integer, default 1) atomically; a missing key counts as 0. Keeps the expiry. */
  incr(key: string, by?: number): Promise<number>;
  /**
   * Writes only if the key's version still equals `expectedVersion` (from getWithVersion or set;
   * null: only if the key is absent); resolves whether it did. Read, compute, compareAndSet,
   * and on false read again: optimistic concurrency, ETag style.
   */
  compareAndSet(
    key: string,
    expectedVersion: string | null,
    value: unknown,
    options?: SetOptions,
  ): Promise<boolean>;
}

export interface InvokeResponse {
  readonly statusCode: number;
  readonly headers: Headers;
  /** Parsed JSON for JSON responses, a string for text, a Buffer otherwise; undefined when empty. */
  readonly body: unknown;
}

export interface FunctionContext {
  readonly functionName: string;
  readonly namespace: string;
  readonly invocationId: string;
  /** Epoch milliseconds after which the runtime answers 504. */
  readonly deadline: number;
  getRemainingTimeInMillis(): number;
  /** Aborted at the deadline or when the client disconnects. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly state: FunctionState;
  /**
   * Publishes a CloudEvent on `subject` for every function with a trigger on it; resolves with
   * its id. Rejects with a PublishError: not configured, refused (the gateway's reason and status),
   * or unavailable.
   */
  publish(
    subject: string,
    data: unknown,
    options?: { readonly contentType?: string; readonly type?: string },
  ): Promise<string>;
  invoke(name: string, payload?: unknown): Promise<InvokeResponse>;
}

/** An explicit HTTP response; recognised by a numeric `statusCode`. */
export interface HandlerResponse {
  readonly statusCode: number;
  readonly headers?: Readonly<Record<string, string | number | readonly string[]>>;
  readonly body?: unknown;
}

export type Handler = (event: FunctionEvent, ctx: FunctionContext) => unknown;
