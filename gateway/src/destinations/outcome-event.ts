import { createHash } from 'node:crypto';
import type { Destination, FunctionSpec } from '@nimbus/api';

/** How a call or an event of a function ended, as its destination is told. */
export interface Ending {
  readonly namespace: string;
  /** The function that ran. */
  readonly function: string;
  /** The id of the call or event that ended: the outcome's causationid, and the seed of its own id. */
  readonly id: string;
  /** Destinations the call or event had travelled already (ce-nimbushops); 0 for one from outside. */
  readonly hops: number;
  readonly outcome:
    | {
        readonly kind: 'succeeded';
        readonly status: number;
        readonly headers: Readonly<Record<string, string>>;
        /** The body, or as much of it as was kept (see size). */
        readonly body: Uint8Array;
        readonly size: number;
      }
    | { readonly kind: 'failed'; readonly lastError: string; readonly attempts: number };
}

/** The header carrying the hop count, on calls and (sealed) on events. */
export const HOPS_HEADER = 'ce-nimbushops';

/** A hop count as a header gives it: a small non-negative integer, else 0 (a caller may only lower the room left). */
export function hopsOf(value: string | undefined): number {
  return value !== undefined && /^\d{1,3}$/.test(value) ? Number(value) : 0;
}

/** Where this ending goes, if anywhere. */
export function destinationOf(spec: FunctionSpec | undefined, ending: Ending): Destination | undefined {
  const destinations = spec?.destinations;
  return ending.outcome.kind === 'succeeded' ? destinations?.onSuccess : destinations?.onFailure;
}

/** The response headers an outcome keeps: what says how to read the body, nothing that may be a credential. */
const KEPT_HEADERS = ['content-type', 'content-encoding', 'content-language'];

export interface OutcomeEvent {
  /** Derived from the ending's id and kind: a finish run twice publishes one event (JetStream's msgId). */
  readonly id: string;
  readonly type: 'dev.nimbus.function.succeeded' | 'dev.nimbus.function.failed';
  readonly data: Buffer;
}

/**
 * The CloudEvent an ending becomes. Pure. Its data is JSON: `{ function, status, headers, body }`
 * after a success (body as JSON when the answer was, as text when it was text, else base64 with
 * `bodyEncoding`; cut to `maxBodyBytes` with `truncated` and the whole `size`), `{ function,
 * lastError, attempts }` after a failure.
 */
export function outcomeEvent(ending: Ending, maxBodyBytes: number): OutcomeEvent {
  const { outcome } = ending;
  const fn = `${ending.namespace}/${ending.function}`;
  const id = derivedId(ending.id, outcome.kind);
  if (outcome.kind === 'failed') {
    const data = { function: fn, lastError: outcome.lastError, attempts: outcome.attempts };
    return { id, type: 'dev.nimbus.function.failed', data: Buffer.from(JSON.stringify(data)) };
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(outcome.headers))
    if (KEPT_HEADERS.includes(name.toLowerCase())) headers[name.toLowerCase()] = value;
  const kept = Buffer.from(outcome.body).subarray(0, maxBodyBytes);
  const truncated = kept.length < outcome.size;
  const data: Record<string, unknown> = { function: fn, status: outcome.status, headers };
  Object.assign(data, bodyOf(kept, headers['content-type'] ?? '', truncated));
  if (truncated) Object.assign(data, { truncated: true, size: outcome.size });
  return { id, type: 'dev.nimbus.function.succeeded', data: Buffer.from(JSON.stringify(data)) };
}

function bodyOf(body: Buffer, contentType: string, truncated: boolean): Record<string, unknown> {
  if (body.length === 0) return { body: null };
  if (!truncated && /json/i.test(contentType)) {
    try {
      return { body: JSON.parse(body.toString('utf8')) };
    } catch {
      // Not the JSON it said: kept as text or bytes below.
    }
  }
  const text = body.toString('utf8');
  if (/^text\/|json|xml/i.test(contentType) && Buffer.from(text, 'utf8').equals(body)) return { body: text };
  return { body: body.toString('base64'), bodyEncoding: 'base64' };
}

/** A UUID-shaped id from a digest of the ending, so it is a valid call id and the same on every try. */
export function derivedId(id: string, kind: string): string {
  const hex = createHash('sha256').update(`nimbus-destination-v1\n${kind}\n${id}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
