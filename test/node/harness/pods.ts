import { eventually } from '@nimbus/testkit';
import type { RealNode } from './node.js';

/** A container the kubelet runs, as containerd knows it, with its process on this machine. */
export interface RunningContainer {
  namespace: string;
  pod: string;
  name: string;
  pid: number;
}

/**
 * The app containers of `namespace`'s pods that are running now (not the pause sandboxes), with
 * the PID of each one's first process: the node is this machine, so a test can read what the
 * kernel says about the process (its uids, capabilities, mounts) instead of trusting the spec.
 */
export async function runningContainers(node: RealNode, namespace: string): Promise<RunningContainer[]> {
  const containerd = node.containerdRuntime;
  const tasks = new Map<string, number>();
  for (const line of (await containerd.ctr(['tasks', 'list'])).stdout.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id !== undefined && status === 'RUNNING') tasks.set(id, Number(pid));
  }
  const found: RunningContainer[] = [];
  for (const [id, pid] of tasks) {
    const info = JSON.parse((await containerd.ctr(['containers', 'info', id])).stdout) as {
      Labels?: Record<string, string>;
    };
    const labels = info.Labels ?? {};
    if (labels['io.cri-containerd.kind'] !== 'container') continue;
    if (labels['io.kubernetes.pod.namespace'] !== namespace) continue;
    found.push({
      namespace,
      pod: labels['io.kubernetes.pod.name'] ?? id,
      name: labels['io.kubernetes.container.name'] ?? id,
      pid,
    });
  }
  return found;
}

/**
 * Runs one pod to its end (restartPolicy Never) and gives what it printed: an in-cluster client,
 * with the same network, DNS and policies as any workload in `namespace`. The pod is deleted after.
 */
export async function runToCompletion(
  node: RealNode,
  namespace: string,
  name: string,
  image: string,
  args: readonly string[],
  ms = 120_000,
): Promise<string> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name,
          image,
          imagePullPolicy: 'IfNotPresent',
          args,
          securityContext: {
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
  await node.kubectl(['apply', '-f', '-'], JSON.stringify(pod));
  try {
    await eventually(
      async () => {
        const { stdout } = await node.kubectl([
          '-n',
          namespace,
          'get',
          'pod',
          name,
          '-o',
          'jsonpath={.status.phase}',
        ]);
        return stdout === 'Succeeded' || stdout === 'Failed' ? stdout : undefined;
      },
      ms,
      `pod ${namespace}/${name} to finish`,
    );
    return (await node.kubectl(['-n', namespace, 'logs', name])).stdout;
  } finally {
    await node.kubectl(['-n', namespace, 'delete', 'pod', name, '--wait=false']).catch(() => undefined);
  }
}
