import { FUNCTION_LABEL } from '../resources/metadata.js';
import { ADOPTED_LABEL, POOL_LABEL } from '../resources/metadata.js';
import { POOL_RUNTIME_CONTAINER } from '../resources/pool.js';

/** What the healer reads of a pod: its labels, whether it is going, and its runtime container's state. */
export interface PoolPodView {
  metadata: { labels?: Record<string, string>; deletionTimestamp?: string };
  status?: {
    containerStatuses?: {
      name: string;
      ready?: boolean;
      restartCount?: number;
      state?: { waiting?: { reason?: string }; terminated?: unknown; running?: unknown };
    }[];
  };
}

/** Why a generic pool pod must be replaced; the `reason` label of the metric. */
export type PoolPodFault = 'crash-loop' | 'restarted' | 'exited';

/**
 * Whether a warm-pool pod is broken for good, and why; undefined when it is fine or not ours to
 * touch. Pure.
 *
 * A pool pod's runtime takes its specialise token from a file it removes at start (see
 * runtime-node/src/pool/pool-token.ts), so once its container has exited, every restart in the
 * same pod exits again: the pod would sit in CrashLoopBackOff, never picked, holding a pool slot.
 * Deleting it lets the pool's ReplicaSet start a fresh pod, whose init container derives a fresh
 * token. Only a generic pod qualifies: one a function took over (the pool label gone, the
 * function's and `adopted` labels on) serves that function, and is handed off once the function's
 * own pods are ready. A ready container is never a fault, whatever its restart count.
 */
export function poolPodFault(pod: PoolPodView): PoolPodFault | undefined {
  const labels = pod.metadata.labels ?? {};
  if (labels[POOL_LABEL] === undefined) return undefined;
  if (labels[ADOPTED_LABEL] !== undefined || labels[FUNCTION_LABEL] !== undefined) return undefined;
  if (pod.metadata.deletionTimestamp !== undefined) return undefined;
  const runtime = pod.status?.containerStatuses?.find((c) => c.name === POOL_RUNTIME_CONTAINER);
  if (runtime === undefined || runtime.ready === true) return undefined;
  if (runtime.state?.waiting?.reason === 'CrashLoopBackOff') return 'crash-loop';
  if ((runtime.restartCount ?? 0) > 0) return 'restarted';
  // Exited and not yet restarted: the kubelet reports this before its first restart.
  if (runtime.state?.terminated !== undefined) return 'exited';
  return undefined;
}
