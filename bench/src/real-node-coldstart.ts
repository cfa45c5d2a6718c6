import { unsupportedReason } from '@nimbus/test/node/harness/host';
import {
  CHART_DIR,
  NimbusRelease,
  RELEASE,
  RELEASE_NAMESPACE,
} from '@nimbus/test/node/harness/nimbus-release';
import { RealNode } from '@nimbus/test/node/harness/node';
import { eventually } from '@nimbus/testkit';
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
    await release.helm([
      'upgrade',
      RELEASE,
      CHART_DIR,
      '--namespace',
      RELEASE_NAMESPACE,
      '--reuse-values',
      '--set',
      'controller.warmPool.size=0',
      '--wait',
    ]);
    await eventually(
      async () => ((await poolReady(node)) === undefined ? true : undefined),
      120_000,
      'the warm pool to go',
    );
    const newPodMs = await wakeEach(node, release, 'fresh', runs, false);
    return { poolMs, newPodMs };
  } finally {
    await node.stop();
  }
}

/** Ready replicas of the namespace's warm pool, or undefined when it has none. */
async function poolReady(node: RealNode): Promise<number | undefined> {
  const { stdout } = await node.kubectl(['-n', NAMESPACE, 'get', 'deployments', '-o', 'json']);
  const pool = (
    JSON.parse(stdout) as { items: { metadata: { name: string }; status: { readyReplicas?: number } }[] }
  ).items.find((d) => d.metadata.name.startsWith('nimbus-pool-'));
  return pool === undefined ? undefined : (pool.status.readyReplicas ?? 0);
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
    await eventually(
      async () => {
        const { stdout } = await node.kubectl(['-n', NAMESPACE, 'get', 'deployment', name, '-o', 'json']);
        const d = JSON.parse(stdout) as { spec: { replicas?: number }; status: { replicas?: number } };
        return d.spec.replicas === 0 && (d.status.replicas ?? 0) === 0 ? true : undefined;
      },
      60_000,
      `${name} at zero`,
    );
    if (pool)
      await eventually(
        async () => (((await poolReady(node)) ?? 0) >= 1 ? true : undefined),
        120_000,
        'a pool pod',
      );
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
