import type { Readable } from 'node:stream';
import type { CallPatch } from '@nimbus/store';
import type { CallOutcome, ResponseHead } from '../invoke/invoker.js';
import type { CallRequest } from './call-message.js';
import type { CallbackResult } from './callback-sender.js';

/*
 * What a call's callback carries. An attempt and its settlement decide when one is sent
 * (call-attempt.ts, call-settlement.ts); these say what goes in it. Pure.
 */

/**
 * The callback of a 2xx answer larger than the record keeps: the answer is written to `body` as
 * it comes from the replica.
 */
export function streamedCallback(
  url: string,
  call: CallRequest,
  head: ResponseHead,
  durationMs: number,
  body: Readable,
): CallbackResult {
  return {
    url,
    callId: call.id,
    outcome: 'succeeded',
    functionStatus: head.status,
    durationMs,
    contentType: head.headers['content-type'],
    body,
    traceContext: call.traceContext,
  };
}

/**
 * The callback once the call's outcome is final: the function's answer as the record keeps it
 * (with the whole size when that is only its start), or, when no replica answered, a JSON error.
 */
export function finalCallback(
  url: string,
  call: CallRequest,
  status: 'succeeded' | 'failed',
  patch: CallPatch,
  outcome: CallOutcome | undefined,
): CallbackResult {
  const result = patch.result;
  const failedWithoutAnswer = outcome !== undefined && outcome.kind === 'failed' ? outcome : undefined;
  const body =
    result !== undefined
      ? typeof result.body === 'string'
        ? Buffer.from(result.body)
        : result.body
      : Buffer.from(
          JSON.stringify({
            error: patch.lastError ?? 'failed',
            code: failedWithoutAnswer?.problem.code ?? 'CallFailed',
            callId: call.id,
          }),
        );
  return {
    url,
    callId: call.id,
    outcome: status,
    functionStatus: result?.statusCode ?? failedWithoutAnswer?.problem.status ?? 500,
    durationMs: patch.timings?.durationMs ?? 0,
    contentType: result !== undefined ? result.headers['content-type'] : 'application/json; charset=utf-8',
    body,
    traceContext: call.traceContext,
    ...(result?.size !== undefined && result.size > body.byteLength ? { truncatedFrom: result.size } : {}),
  };
}
