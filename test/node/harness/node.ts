import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, stopChild } from '@nimbus/testkit';
import { controlPlaneBinaries } from '../../src/harness/control-plane/assets.js';
import {
  CONTROLLER_MANAGER_CONTROLLERS,
  type ControlPlane,
  ControlPlane as Plane,
} from '../../src/harness/control-plane/control-plane.js';
import { Containerd, unmountUnder } from './containerd.js';
import { COREDNS_USER, ClusterDns, corednsBinary, corednsRbac } from './dns.js';
import { type Progress, ensureHostPackages, exists, launch, sh, stderrProgress } from './host.js';
import { type NodeImages, PAUSE_IMAGE, buildImages } from './images.js';
import { createCgroupRoot, readSysctls, writeKubeProxyConfig, writeKubeletConfig } from './kubelet.js';
import {
  type ProcessRecord,
  type RunState,
  hostPathsNow,
  processRecord,
  removeCgroups,
  saveState,
  undoKilledRun,
  undoRun,
} from './leftovers.js';
import { NETPOL_USER, NetworkPolicies, netpolRbac, netpolUnsupportedReason } from './netpol.js';
import { type NodeNetwork, cniConfig, nftTables, refuseForeignKubernetes, setUpNetwork } from './network.js';
import { Pki } from './pki.js';

/**
 * A real single-node Kubernetes for the tests: etcd, kube-apiserver and kube-controller-manager
 * (the shared ControlPlane, bound to the node's address), kube-scheduler, kube-proxy (iptables),
 * a kubelet on the test's own containerd with the bridge CNI plugin, and CoreDNS on the host.
 * Each component signs in as the user the default RBAC policy (or the Node authorizer) expects.
 * `stop()` leaves the machine as it was; a start first undoes a run that was killed mid-way.
 */

export const NODE_NAME = 'nimbus-node';

/** The controllers a real node's workloads need, on top of the ones the main suites run. */
export const NODE_CONTROLLERS = [
  ...CONTROLLER_MANAGER_CONTROLLERS,
  // The chart's NATS and Redis are StatefulSets with volume claims.
  'statefulset-controller',
  'persistentvolume-binder-controller',
  // Claims and volumes carry protection finalizers (admission adds them); these remove them.
  'persistentvolumeclaim-protection-controller',
  'persistentvolume-protection-controller',
  // Pods verify the API server with the `kube-root-ca.crt` ConfigMap in their namespace.
  'root-ca-certificate-publisher-controller',
  // PodDisruptionBudgets (the chart has them) get a status, so drains and evictions can honour them.
  'disruption-controller',
  'job-controller',
  // The kubelet registers the node tainted not-ready; this takes the taint off once it is Ready.
  'node-lifecycle-controller',
  // Pods of a deleted node or orphaned pods are collected.
  'pod-garbage-collector-controller',
] as const;

/** The default StorageClass; the hostPath volumes made for it bind claims that do not name one. */
export const STORAGE_CLASS = 'nimbus-local';
const VOLUMES = 4;

export interface RealNodeOptions {
  progress?: Progress;
  /**
   * Enforce NetworkPolicies with kube-network-policies (netpol.ts), which the bridge CNI plugin
   * does not do. Default: when the kernel allows it (`netpolUnsupportedReason`); true makes a
   * kernel that cannot fail the start.
   */
  networkPolicies?: boolean;
}

/** The repository's root (from test/dist/node/harness/): the images' build context. */
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export class RealNode {
  private stopped = false;

  private constructor(
    private readonly state: RunState,
    private readonly plane: ControlPlane,
    private readonly containerd: Containerd,
    private readonly agents: { name: string; child: ChildProcess }[],
    private readonly dns: ClusterDns,
    private readonly policies: NetworkPolicies | undefined,
    private readonly progress: Progress,
    readonly network: NodeNetwork,
    readonly images: NodeImages,
    /** The hostPath volumes' parent dir. */
    readonly hostPathDir: string,
    /** The node's temp dir: logs of every component are here while it runs. */
    readonly dir: string,
  ) {}

  readonly nodeName = NODE_NAME;
  get nodeIp(): string {
    return this.network.nodeIp;
  }
  get apiUrl(): string {
    return this.plane.url;
  }
  /** An admin kubeconfig (system:masters), for kubectl and helm. */
  get kubeconfigPath(): string {
    return this.plane.kubeconfigPath;
  }
  get adminToken(): string {
    return this.plane.adminToken;
  }
  get caCert(): string {
    return this.plane.caCert;
  }
  /** REST calls as the admin. */
  get api(): ControlPlane {
    return this.plane;
  }
  get containerdRuntime(): Containerd {
    return this.containerd;
  }

  /** Whether kube-network-policies runs (see RealNodeOptions.networkPolicies). */
  get enforcesNetworkPolicies(): boolean {
    return this.policies !== undefined;
  }

  /** The PIDs of every process the node started itself (not the pods'). */
  pids(): number[] {
    return this.state.processes.map((p) => p.pid);
  }

  /** `kubectl --kubeconfig <admin> <args>`. */
  kubectl(args: readonly string[], input?: string): Promise<{ stdout: string; stderr: string }> {
    return sh('kubectl', ['--kubeconfig', this.kubeconfigPath, ...args], {
      input,
      timeoutMs: 5 * 60_000,
    });
  }

  /**
   * Undoes a run killed before its stop() (processes, mounts, network, cgroups, settings): start
   * does this first; a test that compares the machine before and after calls it before looking.
   */
  static cleanLeftovers(progress: Progress = stderrProgress): Promise<void> {
    return undoKilledRun(progress);
  }

  static async start(options: RealNodeOptions = {}): Promise<RealNode> {
    const progress = options.progress ?? stderrProgress;
    const started = Date.now();
    await ensureHostPackages(progress);
    await undoKilledRun(progress);
    await refuseForeignKubernetes();
    const [binaries] = await Promise.all([
      controlPlaneBinaries(progress, { node: true }),
      corednsBinary(progress),
    ]);
    const dir = await mkdtemp('/tmp/nimbus-node-');
    const state: RunState = {
      dir,
      processes: [],
      kubeProxy: binaries.kubeProxy,
      hostPathsBefore: await hostPathsNow(),
      sysctls: await readSysctls(),
      nftTablesBefore: await nftTables(),
    };
    await saveState(state);
    const record = async (child: ChildProcess, name: string) => {
      const entry = child.pid === undefined ? undefined : await processRecord(child.pid, name);
      if (entry !== undefined) state.processes.push(entry);
      await saveState(state);
    };
    const agents: { name: string; child: ChildProcess }[] = [];
    let plane: ControlPlane | undefined;
    let containerd: Containerd | undefined;
    let dns: ClusterDns | undefined;
    let policies: NetworkPolicies | undefined;
    let imagesReady: Promise<NodeImages> | undefined;
    try {
      const network = await setUpNetwork();
      state.ipForward = network.ipForwardBefore;
      await saveState(state);
      const { nodeIp } = network;

      const pki = await Pki.create(join(dir, 'pki'));
      const kubeletServing = await pki.issue({
        name: 'kubelet-serving',
        commonName: NODE_NAME,
        ips: [nodeIp],
        dnsNames: [NODE_NAME],
        usage: 'server',
      });
      // system:masters: the kubelet's webhook authorizer lets the API server read logs and exec.
      const apiServerClient = await pki.issue({
        name: 'apiserver-kubelet-client',
        commonName: 'kube-apiserver-kubelet-client',
        organizations: ['system:masters'],
        usage: 'client',
      });

      const cniConfDir = join(dir, 'cni', 'net.d');
      await mkdir(cniConfDir, { recursive: true });
      await writeFile(
        join(cniConfDir, '10-nimbus-node.conflist'),
        cniConfig(network, join(dir, 'cni', 'ipam')),
      );
      containerd = await Containerd.start({
        dir: join(dir, 'containerd'),
        sandboxImage: PAUSE_IMAGE,
        cniConfDir,
        progress,
      });
      if (containerd.pid !== undefined) {
        const entry = await processRecord(containerd.pid, 'containerd');
        if (entry !== undefined) state.processes.push(entry);
        await saveState(state);
      }
      imagesReady = buildImages({
        containerd,
        repoRoot: REPO_ROOT,
        workDir: join(dir, 'img'),
        progress,
      });
      // Not awaited yet: the control plane comes up while images build. A rejection is taken
      // up below; this keeps it from counting as unhandled meanwhile.
      imagesReady.catch(() => {});

      const tokens = {
        kubelet: randomBytes(24).toString('hex'),
        scheduler: randomBytes(24).toString('hex'),
        proxy: randomBytes(24).toString('hex'),
        coredns: randomBytes(24).toString('hex'),
        netpol: randomBytes(24).toString('hex'),
      };
      plane = await Plane.start({
        progress,
        controllerManager: true,
        node: {
          bindAddress: nodeIp,
          serviceClusterIpRange: network.serviceCidr,
          authorizationModes: ['Node', 'RBAC'],
          tokens: [
            { token: tokens.kubelet, user: `system:node:${NODE_NAME}`, groups: ['system:nodes'] },
            { token: tokens.scheduler, user: 'system:kube-scheduler' },
            { token: tokens.proxy, user: 'system:kube-proxy' },
            { token: tokens.coredns, user: COREDNS_USER },
            { token: tokens.netpol, user: NETPOL_USER },
          ],
          apiServerArgs: [
            '--kubelet-preferred-address-types=InternalIP',
            `--kubelet-client-certificate=${apiServerClient.cert}`,
            `--kubelet-client-key=${apiServerClient.key}`,
            `--kubelet-certificate-authority=${pki.caFile}`,
            '--enable-admission-plugins=NodeRestriction',
          ],
          controllers: NODE_CONTROLLERS,
          publishRootCa: true,
          nodeBinaries: true,
        },
      });
      await recordPlane(state);

      const kubeconfig = async (name: string, token: string) => {
        const path = join(dir, `${name}.kubeconfig`);
        const config = plane?.kubeconfig(token) as { contexts: { name: string }[] };
        // CoreDNS names the context; the others use current-context.
        config.contexts = [{ ...config.contexts[0], name: 'nimbus' } as { name: string }];
        (config as Record<string, unknown>)['current-context'] = 'nimbus';
        await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
        return path;
      };
      const hostPathDir = join(dir, 'volumes');
      for (let i = 0; i < VOLUMES; i++) {
        // Pods run as non-root users the volume's owner cannot know in advance.
        await mkdir(join(hostPathDir, `pv-${i}`), { recursive: true });
        await chmod(join(hostPathDir, `pv-${i}`), 0o1777);
      }
      for (const object of [...corednsRbac(), ...netpolRbac(), ...storageObjects(hostPathDir)])
        await apply(plane, object);

      // Waiting for the node stops at once when an agent dies (a bad flag, a port taken).
      const exits: Promise<never>[] = [];
      const launchAgent = async (name: string, binary: string, args: string[]) => {
        const child = launch(binary, args, join(dir, `${name}.log`));
        agents.push({ name, child });
        const exited = new Promise<never>((_, reject) =>
          child.once('exit', async (code, signal) => {
            const log = await readFile(join(dir, `${name}.log`), 'utf8').catch(() => '');
            const tail = log.trim().split('\n').slice(-8).join('\n');
            reject(new Error(`${name} exited (${signal ?? code}):\n${tail}`));
          }),
        );
        exited.catch(() => {});
        exits.push(exited);
        await record(child, name);
        return child;
      };
      await launchAgent('kube-scheduler', binaries.kubeScheduler as string, [
        `--kubeconfig=${await kubeconfig('kube-scheduler', tokens.scheduler)}`,
        '--leader-elect=false',
        '--secure-port=0',
      ]);
      const proxyConfig = await writeKubeProxyConfig({
        dir,
        nodeName: NODE_NAME,
        nodeIp,
        podCidr: network.podCidr,
        kubeconfigPath: await kubeconfig('kube-proxy', tokens.proxy),
      });
      await launchAgent('kube-proxy', binaries.kubeProxy as string, [`--config=${proxyConfig}`]);
      const kubelet = await writeKubeletConfig({
        dir: join(dir, 'kubelet'),
        nodeIp,
        containerdEndpoint: containerd.endpoint,
        clientCaFile: pki.caFile,
        tlsCert: kubeletServing,
      });
      await createCgroupRoot();
      await launchAgent('kubelet', binaries.kubelet as string, [
        `--config=${kubelet.configFile}`,
        `--kubeconfig=${await kubeconfig('kubelet', tokens.kubelet)}`,
        `--root-dir=${kubelet.rootDir}`,
        `--node-ip=${nodeIp}`,
        `--hostname-override=${NODE_NAME}`,
        '--v=1',
      ]);
      dns = await ClusterDns.start({
        dir: join(dir, 'coredns'),
        ip: nodeIp,
        kubeconfigPath: await kubeconfig('coredns', tokens.coredns),
        progress,
      });
      await record(dns.child, 'coredns');
      const enforce = options.networkPolicies ?? (await netpolUnsupportedReason()) === undefined;
      if (enforce) {
        policies = await NetworkPolicies.start({
          dir: join(dir, 'netpol'),
          kubeconfigPath: await kubeconfig('netpol', tokens.netpol),
          nodeName: NODE_NAME,
          progress,
        });
        await record(policies.child, 'kube-network-policies');
      }

      await Promise.race([nodeReady(plane, 120_000, dir), ...exits]);
      progress(
        `real node: ${NODE_NAME} Ready at ${nodeIp} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      const images = await imagesReady;
      progress(`real node: up with images in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return new RealNode(
        state,
        plane,
        containerd,
        agents,
        dns,
        policies,
        progress,
        network,
        images,
        hostPathDir,
        dir,
      );
    } catch (err) {
      progress(
        `real node: start failed (${(err as Error).message.split('\n')[0]}); cleaning up (logs were in ${dir})`,
      );
      // The image build runs against this containerd: let it end (it fails fast once containerd goes,
      // but its dockerd must be stopped by its own hand first).
      await imagesReady?.catch(() => undefined);
      await teardown({ state, plane, containerd, agents, dns, policies, progress, keepLogs: true });
      throw err;
    }
  }

  /**
   * Deletes every pod (so the kubelet unmounts their volumes), stops the agents, the control
   * plane and containerd by PID, unmounts what is left under the node's dir, cleans the network
   * and removes the dir. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const started = Date.now();
    await this.deleteAllPods().catch((err: Error) =>
      this.progress(`real node: deleting pods: ${err.message}`),
    );
    await teardown({
      state: this.state,
      plane: this.plane,
      containerd: this.containerd,
      agents: this.agents,
      dns: this.dns,
      policies: this.policies,
      progress: this.progress,
    });
    this.progress(`real node: stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /** Deletes workloads' owners first (so nothing makes new pods), then every pod, and waits. */
  private async deleteAllPods(): Promise<void> {
    const namespaces = (
      await this.plane.request<{ items: { metadata: { name: string } }[] }>('GET', '/api/v1/namespaces')
    ).body.items.map((n) => n.metadata.name);
    for (const ns of namespaces) {
      for (const path of [
        `/apis/apps/v1/namespaces/${ns}/deployments`,
        `/apis/apps/v1/namespaces/${ns}/statefulsets`,
        `/apis/apps/v1/namespaces/${ns}/replicasets`,
        `/apis/apps/v1/namespaces/${ns}/daemonsets`,
        `/apis/batch/v1/namespaces/${ns}/jobs`,
      ])
        await this.plane.request('DELETE', `${path}?propagationPolicy=Background`).catch(() => undefined);
      await this.plane.request('DELETE', `/api/v1/namespaces/${ns}/pods?gracePeriodSeconds=2`);
    }
    await eventually(
      async () => {
        const pods = await this.plane.request<{ items: unknown[] }>('GET', '/api/v1/pods');
        return pods.body.items.length === 0 ? true : undefined;
      },
      60_000,
      'every pod on the real node to be deleted',
    ).catch((err: Error) => this.progress(`real node: ${err.message}; stopping anyway`));
  }
}

/** Every part that was started, stopped in reverse order, then everything undone. */
async function teardown(parts: {
  state: RunState;
  plane?: ControlPlane;
  containerd?: Containerd;
  agents: { name: string; child: ChildProcess }[];
  dns?: ClusterDns;
  policies?: NetworkPolicies;
  progress: Progress;
  keepLogs?: boolean;
}): Promise<void> {
  const { state, progress } = parts;
  const step = async (what: string, action: () => Promise<void>) => {
    try {
      await action();
    } catch (err) {
      progress(`real node: ${what} failed: ${(err as Error).message}`);
    }
  };
  // The kubelet first, so it starts no pod while the rest goes.
  for (const { child } of [...parts.agents].reverse())
    await step('stopping an agent', () => stopChild(child, 10_000));
  if (parts.policies)
    await step('stopping kube-network-policies', () => parts.policies?.stop() ?? Promise.resolve());
  if (parts.dns) await step('stopping CoreDNS', () => parts.dns?.stop() ?? Promise.resolve());
  if (parts.plane) await step('stopping the control plane', () => parts.plane?.stop() ?? Promise.resolve());
  if (parts.containerd)
    await step('stopping containerd', () => parts.containerd?.stop() ?? Promise.resolve());
  if (parts.keepLogs) await step('keeping logs', () => keepLogs(state.dir, progress));
  // Whatever is left (a process that would not die, mounts, cgroups, the network, sysctls).
  await step('undoing the run', () => undoRun(state, () => {}));
}

/** On a failed start the logs go to a dir of their own before the node's dir is removed. */
async function keepLogs(dir: string, progress: Progress): Promise<void> {
  const target = `${dir}-logs`;
  await sh('sh', [
    '-c',
    `mkdir -p ${target} && cd ${dir} && find . -name '*.log' -size -50M -exec cp --parents {} ${target} \\;`,
  ]);
  progress(`real node: logs kept in ${target}`);
}

/** Records the control plane's processes (children of this process run from its binaries). */
async function recordPlane(state: RunState): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid) continue;
    const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? '';
    const name = cmd.split('/').at(-1) ?? '';
    if (!['etcd', 'kube-apiserver', 'kube-controller-manager'].includes(name)) continue;
    // etcd's data dir is in the control plane's own temp dir: a killed run's is removed too.
    const dataDir = /--data-dir=(\S+)\/etcd\0/.exec(
      await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''),
    )?.[1];
    if (dataDir !== undefined) state.otherDirs = [...(state.otherDirs ?? []), dataDir];
    if (state.processes.some((p) => p.pid === Number(entry))) continue;
    const recordEntry: ProcessRecord | undefined = await processRecord(Number(entry), name);
    if (recordEntry !== undefined) state.processes.push(recordEntry);
  }
  await saveState(state);
}

/** The default StorageClass and hostPath PersistentVolumes under `dir` (no provisioner here). */
function storageObjects(dir: string): Record<string, unknown>[] {
  return [
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: {
        name: STORAGE_CLASS,
        annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
      },
      provisioner: 'kubernetes.io/no-provisioner',
      volumeBindingMode: 'Immediate',
      reclaimPolicy: 'Retain',
    },
    ...Array.from({ length: VOLUMES }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `${STORAGE_CLASS}-${i}` },
      spec: {
        capacity: { storage: '5Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: STORAGE_CLASS,
        hostPath: { path: join(dir, `pv-${i}`), type: 'DirectoryOrCreate' },
      },
    })),
  ];
}

const COLLECTIONS: Record<string, string> = {
  ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  StorageClass: '/apis/storage.k8s.io/v1/storageclasses',
  PersistentVolume: '/api/v1/persistentvolumes',
};

async function apply(plane: ControlPlane, object: Record<string, unknown>): Promise<void> {
  const path = COLLECTIONS[object.kind as string];
  if (path === undefined) throw new Error(`no collection known for ${object.kind}`);
  const reply = await plane.request<{ message?: string }>('POST', path, object);
  if (reply.status !== 201) throw new Error(`creating ${object.kind}: ${reply.status} ${reply.body.message}`);
}

/** Waits for the node object's Ready condition to be True. */
function nodeReady(plane: ControlPlane, ms: number, dir: string): Promise<true> {
  return eventually(
    async () => {
      const node = await plane.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
        'GET',
        `/api/v1/nodes/${NODE_NAME}`,
      );
      return node.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        ? true
        : undefined;
    },
    ms,
    `node ${NODE_NAME} to be Ready (kubelet log in ${dir}/kubelet.log)`,
  );
}
