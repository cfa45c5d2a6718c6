/**
 * The function contract (DESIGN §3): what a handler receives and may return. These types are
 * exported for function authors; nothing here has runtime behaviour.
 */
import type { Logger } from './logger.js';

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

export interface FunctionEvent {
  readonly method: string;
  /** The request path as received, without the query string. */
  readonly path: string;
  /** Repeated keys become arrays. */
  readonly query: Query;
  /** Lower-cased names. */
  readonly headers: Headers;
  /** Parsed JSON, a string for text and forms, a Buffer otherwise; undefined without a body. */
  readonly body: unknown;
  readonly rawBody: Buffer;
  readonly cloudEvent?: CloudEvent;
}

export interface SetOptions {
  readonly ttlSeconds?: number;
}

/** Keyed state scoped to this function (DESIGN §6). */
export interface FunctionState {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown, options?: SetOptions): Promise<void>;
  delete(key: string): Promise<boolean>;
  incr(key: string, by?: number): Promise<number>;
  /** Writes only if the key's version still equals `expectedVersion`; resolves whether it did. */
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
  publish(subject: string, data: unknown): Promise<void>;
  invoke(name: string, payload?: unknown): Promise<InvokeResponse>;
}

/** An explicit HTTP response; recognised by a numeric `statusCode`. */
export interface HandlerResponse {
  readonly statusCode: number;
  readonly headers?: Readonly<Record<string, string | number | readonly string[]>>;
  readonly body?: unknown;
}

export type Handler = (event: FunctionEvent, ctx: FunctionContext) => unknown;
