import type { FunctionResource, TrafficStatus, TrafficTarget } from '@nimbus/api';
import type { TrafficPlan, TrafficPlanner } from '../rollout/rollout-port.js';

/** spec.traffic as concrete entries: `latestVersion: true` becomes `latest`'s name. Pure. */
export function resolveTraffic(targets: readonly TrafficTarget[], latest: string): TrafficStatus[] {
  return targets.map((t) => ({
    version: t.latestVersion === true || t.version === undefined ? latest : t.version,
    percent: t.percent,
    ...(t.tag === undefined ? {} : { tag: t.tag }),
  }));
}

/**
 * The first spec.traffic entry naming a version that is not kept (`versions`), described for a
 * condition's message; undefined when every entry names a kept version (or the latest). Pure.
 */
export function missingTrafficVersion(
  fn: FunctionResource,
  latest: string,
  versions: readonly string[],
): string | undefined {
  const targets = fn.spec.traffic ?? [];
  for (const [i, entry] of resolveTraffic(targets, latest).entries()) {
    if (!versions.includes(entry.version))
      return `spec.traffic[${i}] names version ${entry.version}, which is not kept (status.versions lists ${versions.join(', ') || 'none'})`;
  }
  return undefined;
}

/**
 * The planner used when no rollout driver is given: spec.traffic resolved when set, otherwise
 * every call to the latest version. spec.rollout is ignored: without the driver there are no
 * outcomes to judge a step by. The caller checks first that spec.traffic names kept versions.
 */
export const staticTrafficPlanner: TrafficPlanner = {
  plan(fn: FunctionResource, latest: string): TrafficPlan {
    const targets = fn.spec.traffic;
    if (targets !== undefined && targets.length > 0) return { traffic: resolveTraffic(targets, latest) };
    return { traffic: [{ version: latest, percent: 100 }] };
  },
};
