import { type Condition, type FunctionSpec, isVersioned } from '@nimbus/api';

/**
 * Local mode has no Deployments to keep versions in: a Function with spec.versions runs its
 * current spec only, as if it had none, and says so rather than pretend. Its status has no
 * latestVersion, versions or traffic; its calls are never shared, and a pin header is ignored
 * (a `/function/{name}@{tag}` path finds no tag: 404).
 */
export const LOCAL_VERSIONS_MESSAGE =
  'versions need a cluster; local mode runs the current spec (spec.versions, traffic and rollout are not applied)';

/** The condition a versioned Function carries in local mode; undefined for an unversioned one. Pure. */
export function localVersionsCondition(spec: Pick<FunctionSpec, 'versions'>): Condition | undefined {
  return isVersioned(spec)
    ? { type: 'Versions', status: 'False', reason: 'NeedsCluster', message: LOCAL_VERSIONS_MESSAGE }
    : undefined;
}
