import type { FunctionResource, TriggerStatus } from '@nimbus/api';
import type { KubeObject } from '@nimbus/kube';
import type { StateBinding } from '../resources/state-binding.js';
import type { SecretMounts } from '../secrets/secret-opt-in.js';
import type { Verdict } from './status.js';

/** What the reconciler asks of the parts beside it: state, Secrets, replicas and triggers' status. */

/** What preparing a Function's Redis key space came to. Empty for a function without state. */
export interface StatePreparation {
  /** What its pods mount and set to log in; undefined: no state settings for the pods. */
  binding?: StateBinding;
  /** The StateReady condition; a False one is also an Event. */
  condition?: Verdict;
  /** Redis failed: the rest is still applied and the status written, then this is thrown, to retry with backoff. */
  retry?: Error;
  /** State is off: the StateRetained condition (whether its keys are kept, and until when). */
  retained?: Verdict;
  /** The keys are kept until a time: reconcile again then, to delete them. */
  requeueAfterMs?: number;
}

/**
 * A Function's Redis key space, made ready before its Deployment is built (the pods mount its
 * login) and given back when state is turned off. Throws only what Kubernetes refused; Redis
 * failures come back as a condition and a `retry`.
 */
export interface StateProvisioner {
  prepare(fn: FunctionResource & KubeObject): Promise<StatePreparation>;
}

/** Without Redis configured at all, or in tests: nothing to prepare. */
export const NO_STATE: StateProvisioner = { prepare: async () => ({}) };

/** Which entries of spec.secrets opted in, and may be mounted (secrets/function-secrets.ts). */
export interface SecretGate {
  check(fn: FunctionResource): Promise<SecretMounts>;
}

/** Each event-source trigger's status and the TriggersReady verdict; undefined for a Function without any. */
export type TriggerStatusSource = (
  fn: FunctionResource,
) => { verdict: Verdict; triggers: TriggerStatus[] } | undefined;

/** What a reconcile that succeeded asks of the queue. */
export interface ReconcileResult {
  /** Reconcile this key again after this long (a retention period ends then, say). */
  requeueAfterMs?: number;
}

/**
 * How many replicas a Function's Deployment should ask for now: the autoscaler's decision. For a
 * versioned Function, `version` names the version whose Deployment is asked about.
 */
export interface ReplicaSource {
  replicasFor(fn: FunctionResource, version?: string): number;
}
