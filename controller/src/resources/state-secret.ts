import type { FunctionResource } from '@nimbus/api';
import { ownedMetadata } from './metadata.js';
import type { Secret } from './objects.js';

/** The keys of a function's state Secret. */
export const STATE_SECRET_KEYS = { username: 'username', password: 'password' } as const;

/** `<function>-state`, in the Function's namespace. */
export function stateSecretName(fn: FunctionResource): string {
  return `${fn.metadata.name}-state`;
}

/**
 * The Secret holding a function's Redis login, owned by the Function so it goes with it. The
 * controller writes it once and reads the password back on every reconcile, so the password
 * stays what the Redis user was given. Pure: the password is made by the caller.
 */
export function buildStateSecret(
  fn: FunctionResource,
  credentials: { username: string; password: string },
): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMetadata(fn, stateSecretName(fn)),
    type: 'Opaque',
    data: {
      [STATE_SECRET_KEYS.username]: Buffer.from(credentials.username).toString('base64'),
      [STATE_SECRET_KEYS.password]: Buffer.from(credentials.password).toString('base64'),
    },
  };
}
