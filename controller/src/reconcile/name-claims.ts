import { type FunctionResource, KIND } from '@nimbus/api';
import type { KubeObject } from '@nimbus/kube';
import { NotDeployableError } from './desired-objects.js';
import type { ObjectCache } from './object-cache.js';

/** The caches of the kinds a Function's objects are. */
export interface ClaimCaches {
  readonly deployments: ObjectCache<KubeObject>;
  readonly services: ObjectCache<KubeObject>;
  readonly configMaps: ObjectCache<KubeObject>;
}

/** What a Function, or one of its versions, is about to create or apply. */
export interface ClaimedObjects {
  readonly deployment: KubeObject;
  readonly service: KubeObject;
  readonly configMap: KubeObject | undefined;
}

/** The other Function that owns `object`; undefined when it is `fn`'s own, or no Function's. */
export function otherFunctionOwner(object: KubeObject | undefined, fn: FunctionResource): string | undefined {
  const owner = object?.metadata.ownerReferences?.find((o) => o.kind === KIND);
  return owner === undefined || owner.uid === fn.metadata.uid ? undefined : owner.name;
}

/**
 * Refuses a Function whose objects would take names another Function's objects have: a version's
 * objects are `<name>-v<n>`, which is also what a Function named `<name>-v<n>` has, and an apply
 * would hand one Function's Deployment and Service to the other. The first to hold a name keeps
 * it; the later one is refused (NameTaken) until one of the two is renamed or goes.
 */
export function claimNames(fn: FunctionResource, objects: ClaimedObjects, caches: ClaimCaches): void {
  const claims: [string, KubeObject | undefined, ObjectCache<KubeObject>][] = [
    ['Deployment', objects.deployment, caches.deployments],
    ['Service', objects.service, caches.services],
    ['ConfigMap', objects.configMap, caches.configMaps],
  ];
  for (const [kind, object, cache] of claims) {
    const name = object?.metadata.name;
    if (name === undefined) continue;
    const other = otherFunctionOwner(cache.get(fn.metadata.namespace, name), fn);
    if (other === undefined) continue;
    throw new NotDeployableError(
      'NameTaken',
      `the ${kind} ${name} belongs to Function ${other}: a Function's objects and another's versions (<name>-v<n>) would share names; rename one of the two`,
    );
  }
}
