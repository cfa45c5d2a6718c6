import { createHmac } from 'node:crypto';

/**
 * The token one warm-pool pod accepts on `POST /_/specialise`, derived from its namespace's pool
 * key and the pod's UID. The controller derives it to specialise the pod; the pod's init container
 * derives the same from the mounted key and the downward API, so no token travels in an env value,
 * and a token that leaks from one pod (its function runs there once specialised) opens no other.
 */
export function derivePoolToken(poolKey: Uint8Array | string, podUid: string): string {
  return createHmac('sha256', poolKey).update(`nimbus-pool-pod:${podUid}`).digest('hex');
}

/** The pool key's size in bytes: as long as the HMAC's output, so guessing it is no shortcut. */
export const POOL_KEY_BYTES = 32;
