import type { IncomingHttpHeaders } from 'node:http';

export const CALL_ID_HEADER = 'x-call-id';

const SANE_CALL_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The caller's `x-call-id` when it is safe to echo into headers and logs (≤128 chars of
 * [A-Za-z0-9._-]); otherwise a fresh id, so one bad header cannot break tracing or log lines.
 */
export function invocationIdFor(headers: IncomingHttpHeaders, generate: () => string): string {
  const given = headers[CALL_ID_HEADER];
  return typeof given === 'string' && SANE_CALL_ID.test(given) ? given : generate();
}
