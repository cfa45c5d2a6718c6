import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { GATEWAY_ASSERTED_HEADERS } from '@nimbus/api/gateway-headers';
import { TRACE_REQUEST_HEADER } from '@nimbus/api/replica-spans';
import { VERSION_HEADER } from '@nimbus/api/traffic';

/** Headers that describe one connection, not the message: a proxy must not pass them on (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Node answers `Expect: 100-continue` itself; the replica must not wait for a second one.
  'expect',
]);

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}

/**
 * Copies headers without the hop-by-hop ones, including any the Connection header names.
 * `drop` removes more (for example the Authorization header the gateway itself consumed). A
 * caller's request for the replica's spans is the gateway's to make, so it never passes; nor do
 * the headers the gateway asserts (route parameters, verified claims), which it sets afterwards;
 * nor a version pin, which is the gateway's to read.
 */
export function endToEndHeaders(headers: IncomingHttpHeaders, drop?: string): OutgoingHttpHeaders {
  const named = headers.connection;
  const listed =
    named === undefined || named === 'keep-alive' || named === 'close'
      ? undefined
      : new Set(named.split(',').map((h) => h.trim().toLowerCase()));
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (
      HOP_BY_HOP.has(name) ||
      name === drop ||
      name === TRACE_REQUEST_HEADER ||
      name === VERSION_HEADER ||
      GATEWAY_ASSERTED_HEADERS.has(name) ||
      listed?.has(name)
    )
      continue;
    out[name] = headers[name];
  }
  return out;
}

const CALL_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Whether a call id is safe to log, pass on and put in a URL: 1-128 of A-Z a-z 0-9 . _ - */
export function isCallId(text: string): boolean {
  return CALL_ID.test(text);
}

/** A caller's own X-Call-Id is kept when it is safe to log and pass on; otherwise one is made. */
export function callIdFrom(header: string | string[] | undefined, generate: () => string): string {
  return typeof header === 'string' && CALL_ID.test(header) ? header : generate();
}
