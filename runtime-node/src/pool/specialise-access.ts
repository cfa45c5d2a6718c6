/** What decides whether a `POST /_/specialise` may go ahead. */
export interface SpecialiseCaller {
  readonly authorization: string | undefined;
}

export type SpecialiseAccess =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly statusCode: 401 | 403; readonly reason: string };

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * Only a caller with the replica's token may specialise it over HTTP, wherever it calls from:
 * loopback proves nothing (containers of a pod share it, and in local mode every caller-steered
 * request the gateway makes, such as an async call's callback, comes from loopback). Without a
 * token (local mode) nobody may: the supervisor specialises over its IPC channel instead.
 */
export function specialiseAccess(caller: SpecialiseCaller, token: string | undefined): SpecialiseAccess {
  if (token === undefined) {
    return {
      allowed: false,
      statusCode: 403,
      reason: 'this replica is specialised by its supervisor only; it accepts no specialise over HTTP',
    };
  }
  const presented = BEARER.exec(caller.authorization ?? '')?.[1];
  if (presented === undefined) {
    return { allowed: false, statusCode: 401, reason: 'specialise needs an Authorization: Bearer token' };
  }
  if (!sameSecret(presented, token)) {
    return {
      allowed: false,
      statusCode: 403,
      reason: 'the Bearer token is not the one this replica accepts',
    };
  }
  return { allowed: true };
}

/**
 * Compares in time that depends only on the expected token's length, so response times do not tell
 * how much of a guess was right. Written out rather than taken from node:crypto, whose loading
 * costs every replica's start a few milliseconds.
 */
function sameSecret(given: string, expected: string): boolean {
  let difference = given.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    difference |= (given.charCodeAt(i) | 0) ^ expected.charCodeAt(i);
  }
  return difference === 0;
}
