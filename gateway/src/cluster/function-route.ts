import {
  type FunctionResource,
  type FunctionSpec,
  HANDLER_LOAD_FAILED,
  isDuration,
  parseDuration,
} from '@nimbus/api';
import type { RouteSettings } from '../routing/route-table.js';

/**
 * The CRD's own defaults. The API server fills them in, so these only matter for an object that
 * predates a default; a route is still better than none.
 */
const FALLBACK = { timeout: '30s', concurrency: 50, auth: 'none' } as const;

export const NOT_READY_YET = 'the function has no ready replicas yet';

/** What the invoke path needs from a Function: its timeout, concurrency, auth and rate limit. Pure. */
export function routeSettingsOf(fn: FunctionResource): RouteSettings {
  const spec: Partial<FunctionSpec> = fn.spec ?? {};
  const timeout =
    typeof spec.timeout === 'string' && isDuration(spec.timeout) ? spec.timeout : FALLBACK.timeout;
  return {
    name: fn.metadata.name,
    namespace: fn.metadata.namespace,
    timeoutMs: parseDuration(timeout),
    concurrency: spec.concurrency ?? FALLBACK.concurrency,
    // No runtime inside a container function holds its replicas to their concurrency: the gateway does.
    gatewayAdmits: spec.runtime === 'container',
    auth: spec.http?.auth ?? FALLBACK.auth,
    jwt: spec.http?.jwt,
    rateLimit: spec.http?.rateLimit,
  };
}

/**
 * Why a function has no ready replica, from what the controller wrote in its status: the Ready
 * condition's message when it is not True (for example a source too large for a ConfigMap),
 * otherwise that replicas are still coming. Pure.
 */
export function unavailableReasonOf(fn: FunctionResource): string {
  const ready = fn.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready !== undefined && ready.status !== 'True' && ready.message) return ready.message;
  return NOT_READY_YET;
}

/**
 * Whether the controller found the current revision's handler unable to load: held requests
 * would wait for a replica that cannot become ready, so they are answered 503 at once. Pure.
 */
export function loadFailedOf(fn: FunctionResource): boolean {
  const ready = fn.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'False' && ready.reason === HANDLER_LOAD_FAILED;
}

/**
 * The path that says a replica of the function is ready, as its pods' readiness probe asks it
 * (controller/src/resources/runtime-pod.ts): the runtime's `/_/ready`, or a container function's
 * own httpGet path; undefined for a container function checked by TCP, which the gateway does not
 * probe. Pure.
 */
export function readinessPathOf(fn: FunctionResource): string | undefined {
  const spec: Partial<FunctionSpec> = fn.spec ?? {};
  if (spec.runtime !== 'container') return '/_/ready';
  return spec.readiness !== undefined && 'httpGet' in spec.readiness
    ? spec.readiness.httpGet.path
    : undefined;
}
