import { type Problem, problems } from '../http/problems.js';
import type { Readiness } from '../ports.js';

/**
 * The answer to a call by a name the route table does not hold. Before the gateway has read its
 * Functions (local mode's folder, the cluster's informers) such a name may well exist: 503 with
 * the reason and Retry-After, not a 404 that says it does not.
 */
export function unknownFunction(readiness: Readiness, name: string, namespace: string): Problem {
  const starting = readiness.notReadyReason();
  return starting === undefined
    ? problems.functionNotFound(name, namespace)
    : problems.unavailable(name, starting);
}
