import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts } from '@nimbus/testkit';

/**
 * The node agents' configuration files: the kubelet's and kube-proxy's, written for this kind of
 * machine (cgroup v1 without systemd, no CAP_SYS_RESOURCE, a disk other work keeps busy) and so
 * that everything they write stays under the node's temp dir and nothing listens beyond the
 * node's own address and loopback.
 */

/**
 * Kernel settings the kubelet (vm.overcommit_memory, kernel.panic…) and kube-proxy (conntrack)
 * may change: read before the node starts and written back after it stops.
 */
export const HOST_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/netfilter/nf_conntrack_max',
  'net/netfilter/nf_conntrack_tcp_timeout_established',
  'net/netfilter/nf_conntrack_tcp_timeout_close_wait',
  'net/ipv4/conf/all/route_localnet',
] as const;

export async function readSysctls(): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const key of HOST_SYSCTLS) {
    const value = await readFile(`/proc/sys/${key}`, 'utf8').catch(() => undefined);
    if (value !== undefined) values[key] = value.trim();
  }
  return values;
}

/** Writes back what readSysctls gave, where it changed. */
export async function restoreSysctls(values: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(values)) {
    const now = await readFile(`/proc/sys/${key}`, 'utf8').catch(() => undefined);
    if (now !== undefined && now.trim() !== value)
      await writeFile(`/proc/sys/${key}`, value).catch(() => undefined);
  }
}

/** The cgroup (in every v1 hierarchy) the kubelet puts its pods under, ours alone to remove. */
export const CGROUP_ROOT = '/nimbus-node';

export interface KubeletFiles {
  configFile: string;
  rootDir: string;
  podLogsDir: string;
  port: number;
}

export interface KubeletConfigOptions {
  dir: string;
  nodeIp: string;
  containerdEndpoint: string;
  /** The node's CA: the kubelet takes client certificates it signed (the API server's). */
  clientCaFile: string;
  /** The kubelet's serving certificate (the API server verifies it with the same CA). */
  tlsCert: { cert: string; key: string };
}

/** Writes the KubeletConfiguration (JSON is YAML) and the resolv.conf it names. */
export async function writeKubeletConfig(options: KubeletConfigOptions): Promise<KubeletFiles> {
  const { dir, nodeIp } = options;
  const rootDir = join(dir, 'root');
  const podLogsDir = join(dir, 'pod-logs');
  const volumePluginDir = join(dir, 'volume-plugins');
  for (const d of [rootDir, podLogsDir, volumePluginDir]) await mkdir(d, { recursive: true });
  // Pods with dnsPolicy Default get this one; cluster-first pods get clusterDNS.
  const resolvConf = join(dir, 'resolv.conf');
  await writeFile(resolvConf, `nameserver ${nodeIp}\n`);
  const [port, healthzPort] = (await freePorts(2)) as [number, number];
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: nodeIp,
    port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    tlsCertFile: options.tlsCert.cert,
    tlsPrivateKeyFile: options.tlsCert.key,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    // Only the API server's client certificate, or a bearer token the API server vouches for.
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: options.clientCaFile },
    },
    authorization: { mode: 'Webhook' },
    // cgroup v1 and no systemd on this kind of machine.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: CGROUP_ROOT,
    failSwapOn: false,
    containerRuntimeEndpoint: options.containerdEndpoint,
    clusterDNS: [nodeIp],
    clusterDomain: 'cluster.local',
    resolvConf,
    podLogsDir,
    volumePluginDir,
    // Other work fills this machine's disk now and then: evict only when it is truly full, and
    // never collect the images the harness imported (no registry could give them back).
    evictionHard: {
      'memory.available': '50Mi',
      'nodefs.available': '1%',
      'nodefs.inodesFree': '1%',
      'imagefs.available': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    // Quick to notice a pod's change, so the tests wait less.
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
    nodeStatusUpdateFrequency: '5s',
  };
  const configFile = join(dir, 'kubelet.config.yaml');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  return { configFile, rootDir, podLogsDir, port };
}

/** Writes kube-proxy's KubeProxyConfiguration. */
export async function writeKubeProxyConfig(options: {
  dir: string;
  nodeName: string;
  nodeIp: string;
  podCidr: string;
  kubeconfigPath: string;
}): Promise<string> {
  const [healthz, metrics] = (await freePorts(2)) as [number, number];
  const config = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig: options.kubeconfigPath },
    hostnameOverride: options.nodeName,
    bindAddress: options.nodeIp,
    clusterCIDR: options.podCidr,
    healthzBindAddress: `127.0.0.1:${healthz}`,
    metricsBindAddress: `127.0.0.1:${metrics}`,
    // NodePorts on the node's address only, never the machine's; localhost NodePorts would
    // need route_localnet.
    nodePortAddresses: [`${options.nodeIp}/32`],
    iptables: { localhostNodePorts: false, syncPeriod: '30s', minSyncPeriod: '0s' },
    // Raising conntrack limits needs CAP_SYS_RESOURCE this machine lacks; 0 leaves them be.
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: '0s',
      tcpCloseWaitTimeout: '0s',
    },
  };
  const file = join(options.dir, 'kube-proxy.config.yaml');
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * Makes CGROUP_ROOT in every v1 hierarchy (the kubelet refuses a cgroup root that does not
 * exist), with the cpuset hierarchy's CPUs and memory nodes copied from the root, as a new
 * cpuset cgroup starts with none and could run nothing.
 */
export async function createCgroupRoot(): Promise<void> {
  const hierarchies = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  for (const hierarchy of hierarchies) {
    if (hierarchy === 'unified') continue;
    const path = join('/sys/fs/cgroup', hierarchy, CGROUP_ROOT);
    await mkdir(path, { recursive: true }).catch(() => undefined);
    if (hierarchy === 'cpuset') {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        const value = await readFile(join('/sys/fs/cgroup/cpuset', file), 'utf8');
        await writeFile(join(path, file), value.trim());
      }
    }
  }
}
