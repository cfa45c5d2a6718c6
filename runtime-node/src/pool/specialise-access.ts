/** What decides whether a `POST /_/specialise` may go ahead. */
export interface SpecialiseCaller {
  /** The peer's address as the socket sees it; forwarding headers are never trusted. */
  readonly remoteAddress: string | undefined;
  readonly authorization: string | undefined;
}

export type SpecialiseAccess =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly statusCode: 401 | 403; readonly reason: string };

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * With NIMBUS_POOL_TOKEN set, the caller must present it as a Bearer token, wherever it calls from:
 * containers in a pod share the loopback interface, so loopback alone proves nothing there. Without
 * a token only loopback callers are let in.
 */
export function specialiseAccess(caller: SpecialiseCaller, token: string | undefined): SpecialiseAccess {
  if (token === undefined) {
    return isLoopback(caller.remoteAddress)
      ? { allowed: true }
      : {
          allowed: false,
          statusCode: 403,
          reason: 'specialise is only accepted from loopback unless NIMBUS_POOL_TOKEN is set',
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

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses (a dual-stack listener reports those). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
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
