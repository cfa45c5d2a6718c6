import type { FunctionResource } from '@nimbus/api';
import { ownedMetadata } from './metadata.js';
import type { Secret } from './objects.js';

/** The key of a function's state Secret: its token for the gateway's state service. */
export const STATE_SECRET_KEYS = { token: 'token' } as const;

/** `<function>-state`, in the Function's namespace. */
export function stateSecretName(fn: FunctionResource): string {
  return `${fn.metadata.name}-state`;
}

/**
 * `<function>-token`: the same token for a function without state, for ctx.publish. A Secret of
 * its own, so `<function>-state` still says that state was on (state-retention.ts reads it so).
 */
export function tokenSecretName(fn: FunctionResource): string {
  return `${fn.metadata.name}-token`;
}

/**
 * The Secret holding a function's state token, owned by the Function so it goes with it. The
 * token is derived from the platform's state key and the function's name (store's stateToken),
 * so the controller can write it again at any time and every gateway replica can check it.
 * Pure: the token is made by the caller.
 */
export function buildStateSecret(fn: FunctionResource, token: string, name = stateSecretName(fn)): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMetadata(fn, name),
    type: 'Opaque',
    data: { [STATE_SECRET_KEYS.token]: Buffer.from(token).toString('base64') },
  };
}
