import {
  type FunctionResource,
  MAX_VERSIONED_NAME_LENGTH,
  type TrafficStatus,
  VERSION_LABEL,
  VERSION_NAME_PATTERN,
  type VersionStatus,
  versionObjectName,
} from '@nimbus/api';
import type { KubeObject } from '@nimbus/kube';
import { type DesiredObjects, NotDeployableError } from '../reconcile/desired-objects.js';
import { type ApplyOutcome, type ObservedDeployment, type Verdict, readiness } from '../reconcile/status.js';
import { FUNCTION_LABEL, SPEC_HASH_ANNOTATION } from '../resources/metadata.js';
import type { ConfigMap, Deployment, Service } from '../resources/objects.js';
import type { VersionHistory, VersionRecord } from './version-history.js';

const VERSION_NAME = new RegExp(VERSION_NAME_PATTERN);

/** One version's objects, as first made; the Deployment's replicas are the only part ever changed later. */
export interface VersionObjects {
  /** Absent when the code comes from an image. */
  configMap: ConfigMap | undefined;
  deployment: Deployment;
  service: Service;
}

/** A version's source ConfigMap: `<function>-v<number>-source`. */
export function versionSourceName(functionName: string, version: string): string {
  return `${versionObjectName(functionName, version)}-source`;
}

/** Refuses a name whose versions' objects would not fit: `<name>-v<number>` must stay a valid Service name. */
export function checkVersionedName(fn: FunctionResource): void {
  const { name } = fn.metadata;
  if (name.length <= MAX_VERSIONED_NAME_LENGTH) return;
  throw new NotDeployableError(
    'NameTooLongForVersions',
    `metadata.name ${name} is ${name.length} characters; a Function with spec.versions may have at most ${MAX_VERSIONED_NAME_LENGTH}, so that its versions' Deployments and Services (${name}-v<number>) fit in 63`,
  );
}

/** The revision a Function's spec describes: the spec hash desiredObjects put on the unversioned Deployment. */
export function revisionOf(desired: DesiredObjects): string {
  const revision = desired.deployment.metadata.annotations?.[SPEC_HASH_ANNOTATION];
  if (revision === undefined) throw new Error('desiredObjects gave a Deployment without its spec hash');
  return revision;
}

/**
 * One version's ConfigMap, Deployment and Service, from the Function's unversioned desired
 * objects (whose hash is the version's revision): renamed `<function>-<version>`, labelled with
 * VERSION_LABEL, the Deployment's selector and the Service's narrowed to the version's pods, the
 * source immutable. The Function label stays, so the Function's NetworkPolicy selects every
 * version's pods. Pure.
 */
export function buildVersionObjects(
  desired: DesiredObjects,
  version: string,
  replicas: number,
): VersionObjects {
  const functionName = desired.deployment.metadata.name;
  const name = versionObjectName(functionName, version);
  const sourceName = versionSourceName(functionName, version);
  const labelled = <M extends { labels: Record<string, string> }>(meta: M): M => ({
    ...meta,
    labels: { ...meta.labels, [VERSION_LABEL]: version },
  });
  const selector = { [FUNCTION_LABEL]: functionName, [VERSION_LABEL]: version };
  const draft = desired.deployment;
  const deployment: Deployment = {
    ...draft,
    metadata: { ...labelled(draft.metadata), name },
    spec: {
      ...draft.spec,
      replicas,
      selector: { matchLabels: selector },
      template: {
        ...draft.spec.template,
        metadata: labelled(draft.spec.template.metadata),
        spec: {
          ...draft.spec.template.spec,
          volumes: draft.spec.template.spec.volumes.map((v) =>
            v.configMap === undefined || desired.configMap === undefined
              ? v
              : { ...v, configMap: { ...v.configMap, name: sourceName } },
          ),
        },
      },
    },
  };
  const service: Service = {
    ...desired.service,
    metadata: { ...labelled(desired.service.metadata), name },
    spec: { ...desired.service.spec, selector },
  };
  const configMap: ConfigMap | undefined =
    desired.configMap === undefined
      ? undefined
      : {
          ...desired.configMap,
          metadata: { ...labelled(desired.configMap.metadata), name: sourceName },
          immutable: true,
        };
  return { configMap, deployment, service };
}

/**
 * The Function's version Deployments among `deployments` (the cache's), by version name: in its
 * namespace, labelled with its name and a version, and owned by it. Pure.
 */
export function versionDeploymentsOf(
  fn: FunctionResource,
  deployments: readonly KubeObject[],
): Map<string, KubeObject> {
  const found = new Map<string, KubeObject>();
  for (const d of deployments) {
    const labels = d.metadata.labels ?? {};
    const version = labels[VERSION_LABEL];
    if (
      d.metadata.namespace !== fn.metadata.namespace ||
      labels[FUNCTION_LABEL] !== fn.metadata.name ||
      version === undefined ||
      !VERSION_NAME.test(version) ||
      d.metadata.name !== versionObjectName(fn.metadata.name, version) ||
      !(d.metadata.ownerReferences ?? []).some((o) => o.uid === fn.metadata.uid)
    )
      continue;
    found.set(version, d);
  }
  return found;
}

const numberOf = (version: string) => Number.parseInt(version.slice(1), 10);

/**
 * The history as the cluster tells it: each version Deployment found (its revision from the spec
 * hash annotation, made when it was created) and each version status.versions lists (which may
 * not be in the cache yet, right after it was made). The latest is status.latestVersion while it
 * is known, else the newest. Pure.
 */
export function historyOf(fn: FunctionResource, found: ReadonlyMap<string, KubeObject>): VersionHistory {
  const records = new Map<string, VersionRecord>();
  for (const v of fn.status?.versions ?? []) {
    if (!VERSION_NAME.test(v.name)) continue;
    records.set(v.name, {
      name: v.name,
      number: numberOf(v.name),
      revision: v.revision,
      createdAt: v.createdAt,
    });
  }
  for (const [name, d] of found) {
    const revision = d.metadata.annotations?.[SPEC_HASH_ANNOTATION];
    if (revision === undefined) continue;
    const createdAt = d.metadata.creationTimestamp ?? records.get(name)?.createdAt ?? '';
    records.set(name, { name, number: numberOf(name), revision, createdAt });
  }
  const versions = [...records.values()].sort((a, b) => b.number - a.number);
  const known = fn.status?.latestVersion;
  const latest = known !== undefined && records.has(known) ? known : versions[0]?.name;
  return { versions, latest };
}

/**
 * The versions that must stay whatever spec.versions.keep says: those the traffic names (by
 * share or tag), a rollout's stable and candidate (unless it succeeded: the candidate is then the
 * latest, and the stable one is history like any other; a rolled back candidate stays for
 * inspection), and the highest-numbered version, so the next number is always above every number
 * used (names are never reused). Pure.
 */
export function neededVersions(
  history: VersionHistory,
  traffic: readonly TrafficStatus[],
  rollout?: { phase?: string; stable: string; candidate: string },
): Set<string> {
  const needed = new Set(traffic.map((t) => t.version));
  if (rollout !== undefined && rollout.phase !== 'Succeeded') {
    needed.add(rollout.stable);
    needed.add(rollout.candidate);
  }
  const highest = history.versions.reduce<VersionRecord | undefined>(
    (top, v) => (top === undefined || v.number > top.number ? v : top),
    undefined,
  );
  if (highest !== undefined) needed.add(highest.name);
  return needed;
}

/** status.versions: each kept version, its Deployment's replicas and its share and tags in `traffic`. Pure. */
export function versionStatuses(
  history: VersionHistory,
  deployments: ReadonlyMap<string, ObservedDeployment>,
  traffic: readonly TrafficStatus[],
): VersionStatus[] {
  return history.versions.map((v) => {
    const entries = traffic.filter((t) => t.version === v.name);
    const tags = entries.flatMap((t) => (t.tag === undefined ? [] : [t.tag]));
    const status = deployments.get(v.name)?.status;
    return {
      name: v.name,
      revision: v.revision,
      createdAt: v.createdAt,
      replicas: status?.replicas ?? 0,
      readyReplicas: status?.readyReplicas ?? 0,
      percent: entries.reduce((sum, t) => sum + t.percent, 0),
      ...(tags.length === 0 ? {} : { tags }),
    };
  });
}

/**
 * Ready for a versioned Function: every version with a share of calls is ready (or scaled to
 * zero), each judged as one Deployment is (readiness). The first that is not says why, by name.
 * Pure.
 */
export function versionedReadiness(
  applied: ApplyOutcome,
  traffic: readonly TrafficStatus[],
  deployments: ReadonlyMap<string, ObservedDeployment>,
): Verdict {
  if (!applied.ok) return readiness(applied, undefined);
  const serving = [...new Set(traffic.filter((t) => t.percent > 0).map((t) => t.version))];
  const verdicts = serving.map((version) => [version, readiness(applied, deployments.get(version))] as const);
  const notReady = verdicts.find(([, verdict]) => verdict.status === 'False');
  if (notReady !== undefined) {
    const [version, verdict] = notReady;
    return { ...verdict, message: `version ${version}: ${verdict.message}` };
  }
  if (verdicts.length === 1) {
    const [[version, verdict]] = verdicts as [readonly [string, Verdict]];
    return { ...verdict, message: `version ${version}: ${verdict.message}` };
  }
  if (verdicts.length === 0)
    return { status: 'False', reason: 'Deploying', message: 'no version has a share of calls yet' };
  return {
    status: 'True',
    reason: 'VersionsReady',
    message: `every version with a share of calls is ready: ${serving.join(', ')}`,
  };
}

/** The sums of every kept version's replicas, for status.replicas and status.readyReplicas. Pure. */
export function replicaSums(versions: readonly VersionStatus[]): { replicas: number; readyReplicas: number } {
  return {
    replicas: versions.reduce((sum, v) => sum + v.replicas, 0),
    readyReplicas: versions.reduce((sum, v) => sum + v.readyReplicas, 0),
  };
}
