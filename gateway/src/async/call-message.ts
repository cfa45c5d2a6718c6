import { type PublishOptions, callSubject } from '@nimbus/bus';

/** Carries the call id, so a redriven call (published again under a new message id) keeps its id. */
export const CALL_ID_HEADER = 'Nimbus-Call-Id';
/** The rest of the request but its body, as JSON: the body is the message's data, bytes as sent. */
export const CALL_REQUEST_HEADER = 'Nimbus-Call-Request';

/** An async call as it travels through the queue: everything needed to run it, without Redis. */
export interface CallRequest {
  readonly id: string;
  readonly namespace: string;
  readonly function: string;
  readonly method: string;
  /** The path and query the replica receives. */
  readonly path: string;
  /** What the replica receives, x-call-id included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly callbackUrl: string | undefined;
  /** When this series of attempts was accepted (epoch ms): the request, or its redrive. */
  readonly acceptedAt: number;
  /**
   * The enqueue span's `traceparent` and `tracestate`, when tracing was on where the call was
   * accepted: carried as NATS headers of those names, so the worker's spans join the caller's
   * trace across the JetStream hop. Whoever can publish to the calls stream can write them, so
   * they are untrusted until Tracing.extract has read them.
   */
  readonly traceContext?: Readonly<Record<string, string>>;
}

interface RequestHeader {
  m: string;
  p: string;
  h: Record<string, string>;
  c?: string;
  t: number;
}

export interface OutgoingCall {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly options: PublishOptions;
}

/**
 * The message for `call`. `msgId` is what JetStream deduplicates on: the call id for a request
 * (so a retried POST stores nothing new), something new for a redrive.
 */
export function encodeCall(call: CallRequest, msgId: string): OutgoingCall {
  const request: RequestHeader = {
    m: call.method,
    p: call.path,
    h: { ...call.headers },
    t: call.acceptedAt,
    ...(call.callbackUrl === undefined ? {} : { c: call.callbackUrl }),
  };
  return {
    subject: callSubject(call.namespace, call.function),
    data: call.body,
    options: {
      msgId,
      // JSON escapes line breaks, so the header stays on one line as NATS needs.
      headers: {
        ...call.traceContext,
        [CALL_ID_HEADER]: call.id,
        [CALL_REQUEST_HEADER]: JSON.stringify(request),
      },
    },
  };
}

const SUBJECT = /^nimbus\.calls\.([a-z0-9-]+)\.([a-z0-9-]+)$/;

/** The target a call subject names, for a message too broken to decode otherwise. */
export function targetOfSubject(subject: string): { namespace: string; function: string } | undefined {
  const match = SUBJECT.exec(subject);
  return match === null ? undefined : { namespace: match[1] as string, function: match[2] as string };
}

const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every((v) => typeof v === 'string');

/** The call a delivered message carries, or why it carries none (it was not published by a gateway). */
export function decodeCall(message: {
  readonly subject: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly data: Uint8Array;
}): CallRequest | { invalid: string } {
  const target = targetOfSubject(message.subject);
  if (target === undefined) return { invalid: `subject ${message.subject} is not a call subject` };
  const id = message.headers[CALL_ID_HEADER];
  if (id === undefined || id === '') return { invalid: `no ${CALL_ID_HEADER} header` };
  let request: Partial<RequestHeader>;
  try {
    request = JSON.parse(message.headers[CALL_REQUEST_HEADER] ?? '') as Partial<RequestHeader>;
  } catch {
    return { invalid: `the ${CALL_REQUEST_HEADER} header is not JSON` };
  }
  const { m, p, h, c, t } = request ?? {};
  if (
    typeof m !== 'string' ||
    typeof p !== 'string' ||
    !p.startsWith('/') ||
    !isStringRecord(h) ||
    (c !== undefined && typeof c !== 'string') ||
    typeof t !== 'number'
  )
    return { invalid: `the ${CALL_REQUEST_HEADER} header lacks the method, path, headers or time` };
  // W3C: a tracestate means nothing without a traceparent.
  const { traceparent, tracestate } = message.headers;
  return {
    id,
    ...target,
    method: m,
    path: p,
    headers: h,
    body: message.data,
    callbackUrl: c,
    acceptedAt: t,
    ...(traceparent === undefined
      ? {}
      : { traceContext: tracestate === undefined ? { traceparent } : { traceparent, tracestate } }),
  };
}
