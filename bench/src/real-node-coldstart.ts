import { untilAtZero, untilNoPool, untilPoolReady } from '@nimbus/test/node/harness/function-scale';
import { unsupportedReason } from '@nimbus/test/node/harness/host';
import { NimbusRelease } from '@nimbus/test/node/harness/nimbus-release';
import { RealNode } from '@nimbus/test/node/harness/node';
import { progress } from './benchmark.js';

export type RealNodeColdStarts =
  | {
      readonly skipped: string;
    }
  | {
      /** Request sent to the gateway's ClusterIP → response, a function at zero, a warm-pool pod ready. */
      readonly poolMs: number[];
      /** The same with no warm pool: the kubelet starts a new pod. */
      readonly newPodMs: number[];
    };

const NAMESPACE = 'bench-cold';

const fn = (name: string) => `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: ${name}
spec:
  source:
    inline: |
      export default async () => ({ at: Date.now() });
  scale:
    min: 0
`;

/**
 * On a real node (test/node: kubelet, containerd, the chart with the project's images): `runs`
 * Functions created at zero and woken once each by a request through the gateway's Service,
 * first with the chart's warm pool, then, after a `helm upgrade` that turns it off, through new
 * pods. Needs root and Linux; otherwise says why and measures nothing.
 */
export async function realNodeColdStarts(runs: number): Promise<RealNodeColdStarts> {
  const reason = unsupportedReason();
  if (reason !== undefined) return { skipped: reason };
  progress('starting the real node (kubelet, containerd, the images) and installing the chart');
  const node = await RealNode.start({ progress });
  try {
    // Functions start at zero, so each run is a first wake and none waits for a scale-down.
    const release = await NimbusRelease.install(node, progress, [
      '--set',
      'controller.autoscaler.initialScale=0',
    ]);
    await node.kubectl(['create', 'namespace', NAMESPACE]);
    const poolMs = await wakeEach(node, release, 'pool', runs, true);
    await release.upgrade(['--set', 'controller.warmPool.size=0']);
    await untilNoPool(node, NAMESPACE, 120_000);
    const newPodMs = await wakeEach(node, release, 'fresh', runs, false);
    return { poolMs, newPodMs };
  } finally {
    await node.stop();
  }
}

async function wakeEach(
  node: RealNode,
  release: NimbusRelease,
  prefix: string,
  runs: number,
  pool: boolean,
): Promise<number[]> {
  const took: number[] = [];
  for (let i = 0; i < runs; i++) {
    const name = `${prefix}-${i}`;
    await release.apply(NAMESPACE, fn(name));
    await untilAtZero(node, NAMESPACE, name, 60_000);
    if (pool) await untilPoolReady(node, NAMESPACE, 120_000);
    const sent = performance.now();
    const reply = await release.get(`/function/${name}.${NAMESPACE}`);
    const ms = performance.now() - sent;
    if (reply.status !== 200 || reply.headers['x-nimbus-cold-start'] !== 'true')
      throw new Error(
        `${name}: ${reply.status}, cold start ${reply.headers['x-nimbus-cold-start']}: ${reply.text}`,
      );
    took.push(ms);
    progress(`real node, ${pool ? 'pool pod' : 'new pod'} ${i + 1}/${runs}: ${ms.toFixed(0)} ms`);
    // Its pod goes with it, so the next run's pool or node is not busy with this one.
    await node.kubectl(['-n', NAMESPACE, 'delete', 'function', name, '--wait=false']);
  }
  return took;
}
