import type { BusMessage } from '@nimbus/bus';
import type { CallPatch } from '@nimbus/store';
import type { CallRequest } from '../async/call-message.js';
import { openSeal } from '../events/event-seal.js';
import type { CallOutcome } from '../invoke/invoker.js';
import { type Ending, HOPS_HEADER, hopsOf } from './outcome-event.js';

/** How an async call ended, from what the call worker records. */
export function callEnding(
  call: CallRequest,
  final: { readonly status: 'succeeded' | 'failed'; readonly attempts: number; readonly patch: CallPatch },
): Ending {
  const { result, lastError } = final.patch;
  return {
    namespace: call.namespace,
    function: call.function,
    id: call.id,
    hops: hopsOf(call.headers[HOPS_HEADER]),
    outcome:
      final.status === 'succeeded'
        ? {
            kind: 'succeeded',
            status: result?.statusCode ?? 200,
            headers: result?.headers ?? {},
            body: bodyBytes(result?.body),
            size: result?.size ?? bodyBytes(result?.body).byteLength,
          }
        : { kind: 'failed', lastError: lastError ?? 'failed', attempts: final.attempts },
  };
}

/** A trigger delivery's end: the function's answer, and the last error when it was dead-lettered. */
export interface EventEnd {
  readonly outcome?: CallOutcome | undefined;
  readonly error?: string | undefined;
}

/**
 * How a trigger event ended: delivered with `outcome` (a 2xx), or dead-lettered with `lastError`.
 * The hop count is read only under the gateway's seal: anyone may publish on a trigger's subject.
 */
export function eventEnding(
  namespace: string,
  fn: string,
  message: BusMessage,
  end: EventEnd,
  sealKey: string,
): Ending {
  const hops = hopsOf(openSeal(sealKey, message)[HOPS_HEADER]);
  const { outcome } = end;
  return {
    namespace,
    function: fn,
    id: message.id,
    hops,
    outcome:
      end.error === undefined && outcome?.kind === 'response'
        ? {
            kind: 'succeeded',
            status: outcome.status,
            headers: outcome.headers,
            body: outcome.body,
            size: outcome.size,
          }
        : { kind: 'failed', lastError: end.error ?? 'failed', attempts: message.deliveryCount },
  };
}

function bodyBytes(body: Uint8Array | string | undefined): Uint8Array {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : (body ?? new Uint8Array());
}
