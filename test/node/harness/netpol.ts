import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, stopChild } from '@nimbus/testkit';
import { goModuleBinary } from './go-build.js';
import { type Progress, launch, sh, trySh } from './host.js';

/**
 * NetworkPolicy enforcement for the real node: the bridge CNI plugin enforces none, so the
 * controller of sigs.k8s.io/kube-network-policies (test/node/netpol, built with Go once per
 * machine) runs on the host. It puts an nftables table of its own in front of the pods' traffic
 * and judges each new connection, queued to it over nfqueue, against the NetworkPolicies.
 */

const MODULE_DIR = fileURLToPath(new URL('../../../node/netpol/', import.meta.url));

/** Its nftables table (family inet): removed by the controller as it stops, or by `cleanNetPol`. */
export const NETPOL_TABLE = 'nimbus-netpol';
export const NETPOL_USER = 'nimbus:network-policies';

export function netpolBinary(progress: Progress): Promise<string> {
  return goModuleBinary({
    name: 'kube-network-policies',
    moduleDir: MODULE_DIR,
    versionOf: 'sigs.k8s.io/kube-network-policies',
    expected: 'about 2 minutes',
    progress,
  });
}

/** What the controller reads (the upstream DaemonSet's ClusterRole, without the admin policies). */
export function netpolRbac(): Record<string, unknown>[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: NETPOL_USER },
      rules: [
        { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes'], verbs: ['list', 'watch', 'get'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch', 'get'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: NETPOL_USER },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: NETPOL_USER },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: NETPOL_USER }],
    },
  ];
}

/**
 * Why kube-network-policies cannot run on this machine, or undefined when it can: its rules send
 * packets to it with nftables' `queue` expression, which needs CONFIG_NFT_QUEUE (this kind of VM's
 * kernel has NFQUEUE for iptables only, and loads no modules). Probed with a table of our own.
 */
export async function netpolUnsupportedReason(): Promise<string | undefined> {
  const table = 'nimbus-netpol-probe';
  try {
    await sh('nft', ['add', 'table', 'inet', table]);
    await sh('nft', ['add', 'chain', 'inet', table, 'probe']);
    await sh('nft', ['add', 'rule', 'inet', table, 'probe', 'queue', 'num', '100', 'bypass']);
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    if (message.includes('ENOENT') || /nft( |:).*not found/.test(message))
      return 'nft is not installed (apt-get install nftables)';
    return `the kernel has no nftables queue expression (CONFIG_NFT_QUEUE), which kube-network-policies needs: ${message.split('\n').slice(-3).join(' ').replace(/\s+/g, ' ')}`;
  } finally {
    await trySh('nft', ['delete', 'table', 'inet', table]);
  }
}

/** Removes the controller's table, for a run killed before the controller could. */
export async function cleanNetPol(): Promise<void> {
  await trySh('nft', ['delete', 'table', 'inet', NETPOL_TABLE]);
}

export class NetworkPolicies {
  private constructor(readonly child: ChildProcess) {}

  static async start(options: {
    dir: string;
    kubeconfigPath: string;
    nodeName: string;
    progress: Progress;
  }): Promise<NetworkPolicies> {
    const unsupported = await netpolUnsupportedReason();
    if (unsupported !== undefined) throw new Error(`NetworkPolicies cannot be enforced here: ${unsupported}`);
    const binary = await netpolBinary(options.progress);
    await mkdir(options.dir, { recursive: true });
    const logFile = join(options.dir, 'kube-network-policies.log');
    const child = launch(
      binary,
      [
        `--kubeconfig=${options.kubeconfigPath}`,
        `--node-name=${options.nodeName}`,
        `--nftables-table=${NETPOL_TABLE}`,
        '--v=2',
      ],
      logFile,
    );
    const policies = new NetworkPolicies(child);
    const died = new Promise<never>((_, reject) =>
      child.once('exit', async (code, signal) => {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        reject(
          new Error(
            `kube-network-policies exited (${signal ?? code}):\n${log.trim().split('\n').slice(-8).join('\n')}`,
          ),
        );
      }),
    );
    died.catch(() => {});
    try {
      // Its table appears once its informers have synced and its rules are in.
      await Promise.race([
        eventually(
          async () => ((await trySh('nft', ['list', 'table', 'inet', NETPOL_TABLE])) ? true : undefined),
          60_000,
          `kube-network-policies to install its nftables table (log in ${logFile})`,
        ),
        died,
      ]);
    } catch (err) {
      await policies.stop();
      throw err;
    }
    return policies;
  }

  /** SIGTERM: the controller deletes its table as it goes; whatever is left goes after. */
  async stop(): Promise<void> {
    await stopChild(this.child, 10_000);
    await cleanNetPol();
  }

  /** The controller's rules, for a report when a policy does not hold. */
  static async rules(): Promise<string> {
    return (await sh('nft', ['list', 'table', 'inet', NETPOL_TABLE])).stdout;
  }
}
