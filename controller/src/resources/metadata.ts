import { API_VERSION, type FunctionResource, KIND, type Runtime } from '@nimbus/api';
import type { ObjectMeta, OwnerReference } from './objects.js';

export const FUNCTION_LABEL = 'nimbus.dev/function';
export const SPEC_HASH_ANNOTATION = 'nimbus.dev/spec-hash';

/** On a pool pod: which runtime it is a generic replica of. Removed when a function adopts it. */
export const POOL_LABEL = 'nimbus.dev/pool';
/** On a pod a function took over from the pool: it serves until the function's own pods are ready. */
export const ADOPTED_LABEL = 'nimbus.dev/adopted';
/** The runtime the warm pool keeps generic replicas of. */
export const POOL_RUNTIME: Runtime = 'node20';

export function poolDeploymentName(runtime: Runtime = POOL_RUNTIME): string {
  return `nimbus-pool-${runtime}`;
}

/** The labels every object of a function carries; the selector is the function label alone. */
export function functionLabels(fn: FunctionResource): Record<string, string> {
  return {
    'app.kubernetes.io/name': fn.metadata.name,
    'app.kubernetes.io/managed-by': 'nimbus',
    [FUNCTION_LABEL]: fn.metadata.name,
  };
}

/** Metadata owned by the Function, so deleting it deletes what was made for it. */
export function ownedMetadata(fn: FunctionResource, name: string): ObjectMeta {
  if (fn.metadata.uid === undefined)
    throw new Error(`Function ${fn.metadata.name} has no uid: read it from the API first`);
  return {
    name,
    namespace: fn.metadata.namespace,
    labels: functionLabels(fn),
    ownerReferences: [functionOwner(fn.metadata.name, fn.metadata.uid)],
  };
}

/** The Function as the controlling owner of an object made for it. */
export function functionOwner(name: string, uid: string): OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name, uid, controller: true, blockOwnerDeletion: true };
}
