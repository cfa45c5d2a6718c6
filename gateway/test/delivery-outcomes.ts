import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { BufferedRequest, CallOutcome } from '../src/invoke/invoker.js';

/** What a replica answered, as the invoker reports it: `status`, and `body` when it matters. */
export const answer = (status: number, body = ''): CallOutcome => ({
  kind: 'response',
  status,
  headers: {},
  body: Buffer.from(body),
  size: Buffer.byteLength(body),
  durationMs: 1,
});

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

/** The span a request's traceparent names as its parent. */
export const parentOf = (request: BufferedRequest | undefined) => {
  const [, traceId, spanId] = TRACEPARENT.exec(request?.headers.traceparent ?? '') ?? [];
  return { traceId, spanId };
};

/** A delivery's attempt spans, first attempt first (by their `nimbus.attempt`). */
export const byAttempt = (spans: readonly ReadableSpan[]): ReadableSpan[] =>
  [...spans].sort((a, b) => Number(a.attributes['nimbus.attempt']) - Number(b.attributes['nimbus.attempt']));
