import type { FunctionResource } from '@nimbus/api';
import type { KubeObject } from '@nimbus/kube';

/** Reads of what the informers hold; the reconciler needs no more of them. */
export interface ObjectCache<T extends KubeObject> {
  get(namespace: string, name: string): T | undefined;
}

/**
 * Something outside Kubernetes that a Function owns and garbage collection cannot reach (a
 * JetStream consumer, a Redis user): cleaned up before the Function's finalizer is removed.
 */
export interface FunctionCleanup {
  readonly name: string;
  appliesTo(fn: FunctionResource): boolean;
  cleanup(fn: FunctionResource): Promise<void>;
}

/**
 * More to keep in line for a Function after its Kubernetes objects (its NATS trigger consumers,
 * say). Throws to have the Function's key retried with backoff.
 */
export interface FunctionStep {
  readonly name: string;
  reconcile(fn: FunctionResource): Promise<void>;
}
