import type { FunctionSpec } from './function.js';

/**
 * Names shared by the controller, every gateway and the tests for a Function's versions. A
 * version is `v<number>`; its Deployment, Service and source ConfigMap are named
 * `<function>-v<number>`, its pods and Service carry VERSION_LABEL, and inside a gateway it is a
 * route of its own named `<function>@v<number>` (a name no Function can have), so holding,
 * waking, balancing, autoscaling and metrics work per version unchanged.
 */

/** On a version's pods, Deployment and Service (and so on its EndpointSlices): the version's name. */
export const VERSION_LABEL = 'nimbus.dev/version';

export const VERSION_NAME_PATTERN = '^v[1-9][0-9]{0,8}$';

/**
 * A versioned Function's name leaves room for `-v` and nine digits within a Service name's 63
 * characters.
 */
export const MAX_VERSIONED_NAME_LENGTH = 52;

/** Whether the Function keeps versions (spec.versions set). */
export function isVersioned(spec: Pick<FunctionSpec, 'versions'>): boolean {
  return spec.versions !== undefined;
}

/** The name of a version's Deployment, Service and pods' prefix: `<function>-<version>`. */
export function versionObjectName(functionName: string, version: string): string {
  return `${functionName}-${version}`;
}

/** The gateway's route name for one version of a Function: `<function>@<version>`. */
export function versionRouteName(functionName: string, version: string): string {
  return `${functionName}@${version}`;
}

/** A route name split back into its Function and version; undefined for a plain Function's name. */
export function splitVersionRoute(name: string): { functionName: string; version: string } | undefined {
  const at = name.indexOf('@');
  if (at <= 0) return undefined;
  return { functionName: name.slice(0, at), version: name.slice(at + 1) };
}
