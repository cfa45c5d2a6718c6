import { ScalingCluster } from '@nimbus/test/harness/scaling-cluster';
import { eventually, send } from '@nimbus/testkit';
import { progress } from './benchmark.js';

export interface ClusterColdStarts {
  /** Gateway sends the wake → the leader answers that the Deployment's scale is written. */
  wakeToRaisedMs: number[];
  /** The same wake as the controller sees it: arrival → the API server took the scale. */
  controllerWakeMs: number[];
  /**
   * A ready endpoint shows in a watch of the EndpointSlices → the held request reaches the
   * function; negative when the gateway used the pod before its slice listed it (a wake's pool
   * pod, or a new pod its own probe found ready).
   */
  endpointReadyToForwardedMs: number[];
  /** Request sent → response received: the whole cold start through a pod. */
  requestToResponseMs: number[];
  /** Replicas the gateway used before their slice, by how it learned of them, over all runs. */
  early: { wake: number; probe: number };
}

/** The `_sum` of one metric in a registry's exposition text, in milliseconds. */
export async function sumMs(
  registry: { getSingleMetricAsString(name: string): Promise<string> },
  name: string,
) {
  const text = await registry.getSingleMetricAsString(name);
  return Number(/_sum (\S+)$/m.exec(text)?.[1] ?? Number.NaN) * 1000;
}

/**
 * On the API-server harness with kube-controller-manager: `runs` Functions created at zero, each
 * woken once by a request through the gateway. Each is a first wake of its own, so no run waits
 * for a scale-down. With `pool`, the controller keeps a warm pool of one pod, and each run starts
 * once the pool has a ready pod.
 */
export async function clusterColdStarts(runs: number, pool = false): Promise<ClusterColdStarts> {
  progress(
    `starting etcd, kube-apiserver, kube-controller-manager, the pod runner, a controller${pool ? ' with a warm pool' : ''} and a gateway`,
  );
  const cluster = await ScalingCluster.start(
    { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', ...(pool ? { NIMBUS_WARM_POOL_SIZE: '1' } : {}) },
    pool ? 'bench-pool' : 'bench-cold',
  );
  const out: ClusterColdStarts = {
    wakeToRaisedMs: [],
    controllerWakeMs: [],
    endpointReadyToForwardedMs: [],
    requestToResponseMs: [],
    early: { wake: 0, probe: 0 },
  };
  const label = pool ? 'cluster cold start through the pool' : 'cluster cold start';
  try {
    for (let i = 0; i < runs; i++) {
      const name = `${pool ? 'pooled' : 'cold'}-${i}`;
      await cluster.createFunction(name, { scale: { min: 0 } });
      await eventually(
        async () => ((await cluster.deployment(name))?.spec?.replicas === 0 ? true : undefined),
        30_000,
        `${name} at zero`,
      );
      if (pool)
        await eventually(
          async () => ((await cluster.readyPoolPods()).length > 0 ? true : undefined),
          60_000,
          'a ready pool pod',
        );
      const gatewayBefore = await sumMs(cluster.gatewayRegistry, 'nimbus_gateway_wake_seconds');
      const controllerBefore = await sumMs(cluster.controller.registry, 'nimbus_controller_wake_seconds');
      const slice = cluster.firstReadyEndpoint(name);
      try {
        const sent = performance.now();
        const reply = await send(cluster.gatewayBase, `/function/${name}.${cluster.namespace}`);
        const took = performance.now() - sent;
        if (reply.status !== 200 || reply.headers['x-nimbus-cold-start'] !== 'true') {
          throw new Error(
            `${name}: ${reply.status}, cold-start header ${reply.headers['x-nimbus-cold-start']}: ${reply.text}`,
          );
        }
        const { at } = reply.json() as { at: number };
        out.requestToResponseMs.push(took);
        out.endpointReadyToForwardedMs.push(at - (await slice.at));
        out.wakeToRaisedMs.push(
          (await sumMs(cluster.gatewayRegistry, 'nimbus_gateway_wake_seconds')) - gatewayBefore,
        );
        out.controllerWakeMs.push(
          (await sumMs(cluster.controller.registry, 'nimbus_controller_wake_seconds')) - controllerBefore,
        );
      } finally {
        await slice.stop();
      }
      progress(`${label} ${i + 1}/${runs}: ${out.requestToResponseMs.at(-1)?.toFixed(0)} ms`);
    }
    out.early = { wake: await cluster.earlyEndpoints('wake'), probe: await cluster.earlyEndpoints('probe') };
  } finally {
    await cluster.stop();
  }
  return out;
}
