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
    const info = await containerInfo(node, id);
    // A task listed a moment ago may be gone now (a pod of another test scaled away): not running.
    if (info === undefined) continue;
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

/** containerd's record of a container, or undefined when it no longer has one. */
async function containerInfo(
  node: RealNode,
  id: string,
): Promise<{ Labels?: Record<string, string> } | undefined> {
  try {
    return JSON.parse((await node.containerdRuntime.ctr(['containers', 'info', id])).stdout) as {
      Labels?: Record<string, string>;
    };
  } catch (err) {
    if (/ not found/.test(String((err as Error).message))) return undefined;
    throw err;
  }
}

/** How a pod run to its end finished, and what it printed. */
export interface PodRun {
  phase: 'Succeeded' | 'Failed';
  logs: string;
}

export interface PodRunOptions {
  /** The pod's labels: what NetworkPolicies select it by. */
  labels?: Record<string, string>;
  env?: Record<string, string>;
  /** How long it may take from apply to its end (120 s). */
  ms?: number;
}

/**
 * Runs one pod to its end (restartPolicy Never) with `args` to the image's entrypoint, and gives
 * how it ended and what it printed: an in-cluster client, with the same network, DNS and
 * policies as any workload in `namespace`. The pod is deleted after.
 */
export async function runToCompletion(
  node: RealNode,
  namespace: string,
  name: string,
  image: string,
  args: readonly string[],
  options: PodRunOptions = {},
): Promise<PodRun> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: options.labels ?? {} },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name,
          image,
          imagePullPolicy: 'IfNotPresent',
          args,
          env: Object.entries(options.env ?? {}).map(([key, value]) => ({ name: key, value })),
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
    const phase = await eventually(
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
      options.ms ?? 120_000,
      `pod ${namespace}/${name} to finish`,
    );
    return { phase, logs: (await node.kubectl(['-n', namespace, 'logs', name])).stdout };
  } finally {
    await node.kubectl(['-n', namespace, 'delete', 'pod', name, '--wait=false']).catch(() => undefined);
  }
}
