import type { FunctionResource } from '@nimbus/api';
import type { ApplyOutcome, Verdict, VersionedStatus } from '../reconcile/status.js';
import { ROLLED_OUT_CONDITION } from '../rollout/rollout-port.js';
import type { VersionSyncResult } from './version-sync.js';
import { replicaSums, versionStatuses, versionedReadiness } from './versioned-objects.js';

/** What a versioned Function's status is computed from, beside what every Function's is. */
export interface VersionedVerdicts {
  /** Undefined: nothing to say of versions (none made yet). */
  status: VersionedStatus | undefined;
  /** Ready's verdict in place of the unversioned Deployment's. */
  ready: Verdict;
  /** RolledOut; undefined leaves it out. */
  rolledOut: Verdict | undefined;
}

/**
 * A versioned Function's status parts. With `sync` (the versions were synced): its versions,
 * traffic and summed replicas; Ready is TrafficVersionNotFound while spec.traffic names a version
 * not kept, else `loadFailure` when the latest version's handler cannot load, else whether every
 * version with a share is ready. Without (the apply failed): what status said before, so traffic
 * never changes on a failure. Pure.
 */
export function versionedVerdicts(
  fn: FunctionResource,
  sync: VersionSyncResult | undefined,
  outcome: ApplyOutcome,
  loadFailure: Verdict | undefined,
): VersionedVerdicts {
  const previousRolledOut = fn.status?.conditions?.find((c) => c.type === ROLLED_OUT_CONDITION);
  const before: Verdict | undefined =
    previousRolledOut === undefined || previousRolledOut.status === 'Unknown'
      ? undefined
      : {
          status: previousRolledOut.status,
          reason: previousRolledOut.reason ?? '',
          message: previousRolledOut.message ?? '',
        };
  if (sync === undefined) {
    const previous = fn.status;
    const status: VersionedStatus | undefined =
      previous?.latestVersion === undefined
        ? undefined
        : {
            latestVersion: previous.latestVersion,
            versions: previous.versions ?? [],
            traffic: previous.traffic ?? [],
            ...(previous.rollout === undefined ? {} : { rollout: previous.rollout }),
            replicas: previous.replicas ?? 0,
            readyReplicas: previous.readyReplicas ?? 0,
          };
    return { status, ready: versionedReadiness(outcome, [], new Map()), rolledOut: before };
  }
  const versions = versionStatuses(sync.history, sync.deployments, sync.traffic);
  return {
    status: {
      latestVersion: sync.latest,
      versions,
      traffic: sync.traffic,
      ...(sync.rollout === undefined ? {} : { rollout: sync.rollout }),
      ...replicaSums(versions),
    },
    ready: sync.trafficNotFound ?? loadFailure ?? versionedReadiness(outcome, sync.traffic, sync.deployments),
    rolledOut: sync.plan === undefined ? before : sync.plan.condition,
  };
}
