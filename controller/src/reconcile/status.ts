import type {
  Condition,
  FunctionResource,
  FunctionStatus,
  RolloutStatus,
  TrafficStatus,
  TriggerStatus,
  VersionStatus,
} from '@nimbus/api';
import { canonicalJson } from '@nimbus/api';

/** What applying the Function's objects came to; Deployed reports it. */
export type ApplyOutcome = { ok: true } | { ok: false; reason: string; message: string };

/** The parts of a Deployment the status is computed from. */
export interface ObservedDeployment {
  metadata: { generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface FunctionCondition extends Condition {
  observedGeneration?: number;
}

export type Verdict = { status: 'True' | 'False'; reason: string; message: string };

/** The condition that says whether every event-source trigger of a Function works (sources/). */
export const TRIGGERS_CONDITION = 'TriggersReady';

/** The condition that reports a function's Redis key space (spec.state), beside Ready and Deployed. */
export const STATE_CONDITION = 'StateReady';

/** What a versioned Function's status says of its versions (versions/version-sync.ts). */
export interface VersionedStatus {
  latestVersion: string;
  versions: VersionStatus[];
  traffic: TrafficStatus[];
  rollout?: RolloutStatus;
  /** Sums over every kept version's Deployment. */
  replicas: number;
  readyReplicas: number;
}

/** Ready: the function's current revision serves, judged from its Deployment. */
export function readiness(applied: ApplyOutcome, deployment: ObservedDeployment | undefined): Verdict {
  if (!applied.ok) return { status: 'False', reason: applied.reason, message: applied.message };
  if (deployment === undefined)
    return { status: 'False', reason: 'Deploying', message: 'the Deployment is being created' };
  const wanted = deployment.spec?.replicas ?? 1;
  const s = deployment.status ?? {};
  if ((s.observedGeneration ?? 0) < (deployment.metadata.generation ?? 0)) {
    return {
      status: 'False',
      reason: 'Deploying',
      message: 'the Deployment controller has not seen the new revision yet',
    };
  }
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False') {
    return {
      status: 'False',
      reason: progressing.reason ?? 'ProgressDeadlineExceeded',
      message: progressing.message ?? 'the rollout is not progressing',
    };
  }
  if (wanted === 0) {
    return {
      status: 'True',
      reason: 'ScaledToZero',
      message: 'no replica runs; a request wakes the function',
    };
  }
  if ((s.updatedReplicas ?? 0) < wanted) {
    return {
      status: 'False',
      reason: 'RollingOut',
      message: `${s.updatedReplicas ?? 0} of ${wanted} replicas run the current revision`,
    };
  }
  if ((s.availableReplicas ?? 0) < 1) {
    return { status: 'False', reason: 'NoReadyReplicas', message: `none of ${wanted} replicas is ready yet` };
  }
  return {
    status: 'True',
    reason: 'ReplicasReady',
    message: `${s.readyReplicas ?? 0} of ${wanted} replicas are ready`,
  };
}

/**
 * The Function's status: conditions Deployed and Ready (and StateReady when `state` says how its
 * key space is, then each of `more` that has a verdict), observedGeneration, replica counts and the URL it is called at. Pure; `now`
 * stamps only conditions whose status changed. `ready`, when given, is Ready's verdict in place
 * of the Deployment's (a handler that failed to load, which no Deployment status shows).
 * `versioned`, for a Function with spec.versions: its versions, traffic and summed replicas.
 */
export function computeStatus(
  fn: FunctionResource,
  applied: ApplyOutcome,
  deployment: ObservedDeployment | undefined,
  gatewayUrl: string,
  now: Date,
  state?: Verdict,
  more: readonly (readonly [type: string, verdict: Verdict | undefined])[] = [],
  ready?: Verdict,
  triggers?: readonly TriggerStatus[],
  versioned?: VersionedStatus,
): FunctionStatus {
  const generation = fn.metadata.generation;
  const deployed: Verdict = applied.ok
    ? { status: 'True', reason: 'Applied', message: 'the ConfigMap, Deployment and Service are applied' }
    : { status: 'False', reason: applied.reason, message: applied.message };
  const previous = (fn.status?.conditions ?? []) as FunctionCondition[];
  const condition = (type: string, verdict: Verdict): FunctionCondition => {
    const before = previous.find((c) => c.type === type);
    return {
      type,
      ...verdict,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      lastTransitionTime:
        before?.status === verdict.status && before.lastTransitionTime !== undefined
          ? before.lastTransitionTime
          : now.toISOString().replace(/\.\d+Z$/, 'Z'),
    };
  };
  const { name, namespace } = fn.metadata;
  return {
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions: [
      condition('Ready', ready ?? readiness(applied, deployment)),
      condition('Deployed', deployed),
      ...(state === undefined ? [] : [condition(STATE_CONDITION, state)]),
      ...more.flatMap(([type, verdict]) => (verdict === undefined ? [] : [condition(type, verdict)])),
    ],
    ...(versioned === undefined
      ? {}
      : {
          latestVersion: versioned.latestVersion,
          versions: versioned.versions,
          traffic: versioned.traffic,
          ...(versioned.rollout === undefined ? {} : { rollout: versioned.rollout }),
        }),
    replicas: versioned?.replicas ?? deployment?.status?.replicas ?? 0,
    readyReplicas: versioned?.readyReplicas ?? deployment?.status?.readyReplicas ?? 0,
    url: `${gatewayUrl.replace(/\/+$/, '')}/function/${name}.${namespace}`,
    ...(triggers === undefined || triggers.length === 0 ? {} : { triggers: [...triggers] }),
  };
}

/** Status writes are skipped when nothing would change. */
export function sameStatus(a: FunctionStatus | undefined, b: FunctionStatus): boolean {
  return a !== undefined && canonicalJson(a) === canonicalJson(b);
}
