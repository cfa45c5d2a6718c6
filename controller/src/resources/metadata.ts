import { API_VERSION, type FunctionResource, KIND } from '@nimbus/api';
import type { ObjectMeta } from './objects.js';

export const FUNCTION_LABEL = 'nimbus.dev/function';
export const SPEC_HASH_ANNOTATION = 'nimbus.dev/spec-hash';

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
    ownerReferences: [
      {
        apiVersion: API_VERSION,
        kind: KIND,
        name: fn.metadata.name,
        uid: fn.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}
