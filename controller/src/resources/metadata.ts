import { API_VERSION, type FunctionResource, KIND, type Runtime } from '@nimbus/api';
import type { ObjectMeta, OwnerReference } from './objects.js';

export const FUNCTION_LABEL = 'nimbus.dev/function';
export const SPEC_HASH_ANNOTATION = 'nimbus.dev/spec-hash';

/** On a pool pod: the runtime it is a generic replica of (node20, python3.11). Removed on adoption. */
export const POOL_LABEL = 'nimbus.dev/pool';
/** On a pod a function took over from the pool: it serves until the function's own pods are ready. */
export const ADOPTED_LABEL = 'nimbus.dev/adopted';
/** The runtimes a warm pool keeps generic replicas of: the platform's own, which take inline code. */
export const POOL_RUNTIMES = ['node20', 'python3.11'] as const satisfies readonly Runtime[];
export type PoolRuntime = (typeof POOL_RUNTIMES)[number];

export const isPoolRuntime = (runtime: Runtime): runtime is PoolRuntime =>
  (POOL_RUNTIMES as readonly Runtime[]).includes(runtime);

/**
 * The name of a namespace's pool Deployment (and NetworkPolicy) for `runtime`: `nimbus-pool-node20`,
 * as before there were two, so an upgrade leaves a running Node pool in place;
 * `nimbus-pool-python3-11`, without the dot a pod's hostname would split at.
 */
export function poolDeploymentName(runtime: PoolRuntime): string {
  return `nimbus-pool-${runtime.replaceAll('.', '-')}`;
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
