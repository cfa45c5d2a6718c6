import type { InformerEvent, KubeObject } from '@nimbus/kube';
import { FUNCTION_LABEL } from '../resources/metadata.js';

/** What the controller reads of a function's pod. */
export interface FunctionPod extends KubeObject {
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

/** A function's pods, by its namespace and name. */
export interface PodsOfFunction {
  of(namespace: string, name: string): readonly FunctionPod[];
}

const functionOf = (pod: KubeObject): string | undefined => {
  const name = pod.metadata.labels?.[FUNCTION_LABEL];
  return name === undefined ? undefined : `${pod.metadata.namespace}/${name}`;
};

const isReady = (pod: FunctionPod): boolean =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/**
 * The pods of each function, kept from the pods informer's events: a function's pods are found
 * without asking the API server (a LIST per reconcile costs the server a scan of every pod in the
 * namespace, so n functions cost n²) and without scanning the whole cache. `onReachable` hears of
 * a function whose pod got (or changed) its address or its readiness: what can make a look at its
 * pods come out differently, so the controller reconciles it then instead of polling for it.
 */
export class FunctionPods implements PodsOfFunction {
  private readonly byFunction = new Map<string, Map<string, FunctionPod>>();

  constructor(private readonly onReachable: (functionKey: string) => void = () => {}) {}

  of(namespace: string, name: string): readonly FunctionPod[] {
    const pods = this.byFunction.get(`${namespace}/${name}`);
    return pods === undefined ? [] : [...pods.values()];
  }

  /** Feeds one informer event in (the informer's `on`). */
  readonly observe = (event: InformerEvent<FunctionPod>): void => {
    const pod = event.object;
    const key = functionOf(pod);
    const podName = pod.metadata.name ?? '';
    // A pod relabelled away from a function (or onto one) leaves the old entry first.
    if (event.type === 'updated') {
      const before = functionOf(event.old);
      if (before !== undefined && before !== key) this.forget(before, podName);
    }
    if (key === undefined) return;
    if (event.type === 'deleted') {
      this.forget(key, podName);
      return;
    }
    let pods = this.byFunction.get(key);
    if (pods === undefined) {
      pods = new Map();
      this.byFunction.set(key, pods);
    }
    pods.set(podName, pod);
    const old = event.type === 'updated' ? event.old : undefined;
    const reachable = pod.status?.podIP !== undefined;
    if (
      reachable &&
      (old?.status?.podIP !== pod.status?.podIP || (old !== undefined && isReady(old) !== isReady(pod)))
    )
      this.onReachable(key);
  };

  private forget(key: string, podName: string): void {
    const pods = this.byFunction.get(key);
    if (pods === undefined) return;
    pods.delete(podName);
    if (pods.size === 0) this.byFunction.delete(key);
  }
}
