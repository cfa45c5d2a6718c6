import { type PoolRuntime, poolDeploymentName } from '@nimbus/controller';
import { eventually } from '@nimbus/testkit';
import type { RealNode } from './node.js';

/**
 * Waits on what a function's scale looks like on the node, as the suites and the cold-start
 * benchmark both need it: a Function at zero, and the namespace's warm pool.
 */

/** What the Deployment of a Function has: replicas wanted, its pods, the ready ones, and whether its rollout is done. */
export interface DeploymentScale {
  wanted: number;
  /** Pods of the Deployment not terminating (status.replicas). */
  pods: number;
  ready: number;
  rolledOut: boolean;
  /** metadata.generation: every write of the replicas wanted raises it. */
  generation: number;
}

export async function deploymentScale(
  node: RealNode,
  namespace: string,
  name: string,
): Promise<DeploymentScale> {
  const { stdout } = await node.kubectl(['-n', namespace, 'get', 'deployment', name, '-o', 'json']);
  const d = JSON.parse(stdout) as {
    metadata: { generation: number };
    spec: { replicas?: number };
    status: {
      observedGeneration?: number;
      replicas?: number;
      readyReplicas?: number;
      updatedReplicas?: number;
    };
  };
  const wanted = d.spec.replicas ?? 0;
  const pods = d.status.replicas ?? 0;
  return {
    wanted,
    pods,
    ready: d.status.readyReplicas ?? 0,
    generation: d.metadata.generation,
    rolledOut:
      d.status.observedGeneration === d.metadata.generation &&
      (d.status.updatedReplicas ?? 0) === wanted &&
      pods === wanted,
  };
}

/** Until the Deployment of Function `name` wants no replica and has no pod left. */
export function untilAtZero(node: RealNode, namespace: string, name: string, ms: number): Promise<true> {
  return eventually(
    async () => {
      const d = await deploymentScale(node, namespace, name);
      return d.wanted === 0 && d.pods === 0 ? true : undefined;
    },
    ms,
    `${namespace}/${name} at zero`,
  );
}

/**
 * Ready replicas of the namespace's warm pool of `runtime`, or of any of its pools when none is
 * named; undefined when there is no such pool.
 */
export async function poolReadyReplicas(
  node: RealNode,
  namespace: string,
  runtime?: PoolRuntime,
): Promise<number | undefined> {
  const { stdout } = await node.kubectl(['-n', namespace, 'get', 'deployments', '-o', 'json']);
  const pool = (
    JSON.parse(stdout) as { items: { metadata: { name: string }; status: { readyReplicas?: number } }[] }
  ).items.find((d) =>
    runtime === undefined
      ? d.metadata.name.startsWith('nimbus-pool-')
      : d.metadata.name === poolDeploymentName(runtime),
  );
  return pool === undefined ? undefined : (pool.status.readyReplicas ?? 0);
}

/** Until the namespace's warm pool of `runtime` has a ready pod. */
export function untilPoolReady(
  node: RealNode,
  namespace: string,
  ms: number,
  runtime: PoolRuntime = 'node20',
): Promise<true> {
  return eventually(
    async () => (((await poolReadyReplicas(node, namespace, runtime)) ?? 0) >= 1 ? true : undefined),
    ms,
    `a ready ${runtime} warm-pool pod in ${namespace}`,
  );
}

/** Until the namespace has no warm pool at all. */
export function untilNoPool(node: RealNode, namespace: string, ms: number): Promise<true> {
  return eventually(
    async () => ((await poolReadyReplicas(node, namespace)) === undefined ? true : undefined),
    ms,
    `the warm pools of ${namespace} to go`,
  );
}

/**
 * Until an EndpointSlice of the Function's Service lists a ready endpoint, and what it lists. A
 * wake's answer tells only the gateway replica that asked where the pod is; the others learn it
 * from the slice, so a call that must find the function warm on any replica waits for this first.
 */
export function untilListedReady(
  node: RealNode,
  namespace: string,
  name: string,
  ms: number,
): Promise<string[]> {
  return eventually(
    async () => {
      const { stdout } = await node.kubectl([
        '-n',
        namespace,
        'get',
        'endpointslices',
        '-l',
        `kubernetes.io/service-name=${name}`,
        '-o',
        'json',
      ]);
      const slices = JSON.parse(stdout) as {
        items: {
          endpoints?: { addresses: string[]; conditions?: { ready?: boolean; terminating?: boolean } }[];
        }[];
      };
      // As the gateway reads a slice: a missing `ready` means ready, a terminating endpoint is not.
      const ready = slices.items.flatMap((slice) =>
        (slice.endpoints ?? [])
          .filter((e) => e.conditions?.ready !== false && e.conditions?.terminating !== true)
          .flatMap((e) => e.addresses),
      );
      return ready.length > 0 ? ready : undefined;
    },
    ms,
    `${namespace}/${name} listed ready in an EndpointSlice`,
  );
}
