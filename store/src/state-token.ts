import { createHmac, timingSafeEqual } from 'node:crypto';
import { checkFunctionName } from './keys.js';

/**
 * A function's credential for the gateway's state service: an HMAC of its namespace and name under
 * the platform's state key (NIMBUS_STATE_KEY), which only the controller and the gateway hold.
 * The controller writes it into the function's state Secret; any gateway replica checks it
 * without asking anyone. It names one function and grants that function's key space, nothing else.
 * Rotating the key rotates every token (the controller rewrites the Secrets, pods roll).
 */
export function stateToken(key: string, namespace: string, fn: string): string {
  checkFunctionName(namespace, fn);
  return createHmac('sha256', key).update(`nimbus-state-v1:${namespace}/${fn}`).digest('base64url');
}

/** Whether `token` is the state token of this function, compared in constant time. */
export function verifyStateToken(key: string, namespace: string, fn: string, token: string): boolean {
  const expected = Buffer.from(stateToken(key, namespace, fn));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The shortest state key accepted: it must not be guessable. */
export const MIN_STATE_KEY_LENGTH = 32;
