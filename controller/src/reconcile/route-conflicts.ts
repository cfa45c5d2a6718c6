import type { FunctionResource } from '@nimbus/api';
import {
  ROUTES_CONDITION,
  type RouteClaims,
  resolveRouteClaims,
  routesCondition,
} from '@nimbus/api/route-claims';
import type { Verdict } from './status.js';

export { ROUTES_CONDITION } from '@nimbus/api/route-claims';

const keyOf = (fn: FunctionResource): string => `${fn.metadata.namespace}/${fn.metadata.name}`;
const hasRoutes = (fn: FunctionResource): boolean => (fn.spec?.http?.routes?.length ?? 0) > 0;

/**
 * RoutesReady for each Function with routes, by the rule every gateway applies to the same
 * Functions (api/src/route-claims.ts): the earlier Function holds a contested route, the later
 * one is told which and by whom. The claims are worked out once per change of any Function's
 * routes, not once per reconcile, so 5,000 Functions cost one pass, not 5,000.
 */
export class RouteConflicts {
  private claims: RouteClaims | undefined;

  constructor(private readonly functions: { list(): FunctionResource[] }) {}

  /**
   * A Function changed: when its routes (or its existence) matter to others, the claims are
   * worked out again and the keys of every other Function with routes come back, to reconcile.
   */
  changed(fn: FunctionResource, before?: FunctionResource): string[] {
    if (!hasRoutes(fn) && (before === undefined || !hasRoutes(before))) return [];
    this.claims = undefined;
    const key = keyOf(fn);
    return this.functions
      .list()
      .filter((other) => hasRoutes(other) && keyOf(other) !== key)
      .map(keyOf);
  }

  /** Undefined for a Function without routes: the condition is left out. */
  verdict(fn: FunctionResource): Verdict | undefined {
    if (!hasRoutes(fn)) return undefined;
    this.claims ??= resolveRouteClaims(
      this.functions
        .list()
        .filter((f) => hasRoutes(f) && f.metadata.deletionTimestamp === undefined)
        .map((f) => ({
          key: keyOf(f),
          creationTimestamp: f.metadata.creationTimestamp,
          routes: f.spec.http.routes ?? [],
        })),
    );
    const { status, reason, message } = routesCondition(this.claims.conflicts.get(keyOf(fn)));
    return { status: status === 'True' ? 'True' : 'False', reason: reason ?? '', message: message ?? '' };
  }
}
