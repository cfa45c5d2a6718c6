import type { ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, freePorts, stopChild } from '@nimbus/testkit';
import { goModuleBinary } from './go-build.js';
import { type Progress, launch } from './host.js';

/**
 * The real node's cluster DNS: the small CoreDNS of test/node/coredns (built with Go once per
 * machine), run on the host at the node's address, answering cluster names from the API server.
 * The kubelet gives pods this address as their nameserver, as clusters do with kube-dns's IP.
 */

const MODULE_DIR = fileURLToPath(new URL('../../../node/coredns/', import.meta.url));

/** The CoreDNS binary, built on first use (see goModuleBinary). */
export function corednsBinary(progress: Progress): Promise<string> {
  return goModuleBinary({
    name: 'coredns',
    moduleDir: MODULE_DIR,
    versionOf: 'github.com/coredns/coredns',
    expected: 'about 1.5 minutes',
    progress,
  });
}

/**
 * The RBAC CoreDNS's own user needs (what kubeadm grants `system:coredns`): it reads the
 * objects cluster names are made of, nothing else.
 */
export const COREDNS_USER = 'nimbus:coredns';
export function corednsRbac(): Record<string, unknown>[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: COREDNS_USER },
      rules: [
        {
          apiGroups: [''],
          resources: ['endpoints', 'services', 'pods', 'namespaces'],
          verbs: ['list', 'watch'],
        },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: COREDNS_USER },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: COREDNS_USER },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: COREDNS_USER }],
    },
  ];
}

export interface ClusterDnsOptions {
  /** Where its Corefile and log go. */
  dir: string;
  /** The address it answers on, port 53 (the node's bridge address). */
  ip: string;
  /** A kubeconfig for CoreDNS's own user (see corednsRbac). */
  kubeconfigPath: string;
  progress: Progress;
}

export class ClusterDns {
  private constructor(
    readonly child: ChildProcess,
    readonly ip: string,
  ) {}

  static async start(options: ClusterDnsOptions): Promise<ClusterDns> {
    const binary = await corednsBinary(options.progress);
    const { dir, ip } = options;
    await mkdir(dir, { recursive: true });
    const [healthPort, readyPort] = (await freePorts(2)) as [number, number];
    // `bind` keeps every listener on the node's address; nothing forwards upstream, so a name
    // outside the cluster gets no answer and no query leaves the machine.
    const corefile = [
      '.:53 {',
      `  bind ${ip}`,
      '  errors',
      `  health ${ip}:${healthPort}`,
      `  ready ${ip}:${readyPort}`,
      '  kubernetes cluster.local in-addr.arpa ip6.arpa {',
      `    kubeconfig ${options.kubeconfigPath} nimbus`,
      '    pods insecure',
      '    fallthrough in-addr.arpa ip6.arpa',
      '  }',
      '  cache 5',
      '}',
      '',
    ].join('\n');
    const corefilePath = join(dir, 'Corefile');
    await writeFile(corefilePath, corefile);
    const logFile = join(dir, 'coredns.log');
    const child = launch(binary, ['-conf', corefilePath], logFile, { cwd: dir });
    const dns = new ClusterDns(child, ip);
    const died = new Promise<never>((_, reject) =>
      child.once('exit', async (code, signal) => {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        reject(
          new Error(`coredns exited (${signal ?? code}):\n${log.trim().split('\n').slice(-8).join('\n')}`),
        );
      }),
    );
    died.catch(() => {});
    try {
      // /ready answers 200 once the kubernetes plugin has synced, a moment before the DNS
      // listener is up: an answer for the API server's own Service name is the real sign.
      const resolver = new Resolver({ timeout: 1000, tries: 1 });
      resolver.setServers([ip]);
      await Promise.race([
        eventually(
          async () => {
            if (!(await fetch(`http://${ip}:${readyPort}/ready`)).ok) return undefined;
            const addresses = await resolver.resolve4('kubernetes.default.svc.cluster.local');
            return addresses.length > 0 ? true : undefined;
          },
          60_000,
          `CoreDNS to answer at ${ip} (log in ${logFile})`,
        ),
        died,
      ]);
    } catch (err) {
      await dns.stop();
      throw err;
    }
    return dns;
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 5_000);
  }
}
