import { readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sh, trySh } from './host.js';

/**
 * The real node's network, kept off the machine's own: the kubelet refuses a loopback node IP,
 * so the node, the API server and the cluster DNS live on the address of a bridge of our own
 * (`nimbus-node0`) that has no ports and so carries nothing out. The pod range (the bridge CNI
 * plugin's `nimbus-cni0`) and the service range are routed to that bridge, so a packet for them
 * can never leave through the machine's interface, and a chain in FORWARD drops what the pods
 * send anywhere but each other and the node. `teardown()` puts everything back as it was: the
 * two bridges and their veths, our chain, kube-proxy's chains, ip_forward's old value and the
 * CNI plugins' state files.
 */

export const NODE_BRIDGE = 'nimbus-node0';
export const CNI_BRIDGE = 'nimbus-cni0';
export const CNI_NETWORK = 'nimbus-node';
const FORWARD_CHAIN = 'NIMBUS-NODE-FWD';

export interface NodeNetwork {
  /** The node's address on NODE_BRIDGE: node IP, API server, cluster DNS. */
  nodeIp: string;
  nodeCidr: string;
  /** The pods' range, on CNI_BRIDGE. */
  podCidr: string;
  podGateway: string;
  /** The Service range; its first address is `kubernetes.default`. */
  serviceCidr: string;
  /** ip_forward before setup, restored at teardown. */
  ipForwardBefore: string;
}

/**
 * The nftables tables there are (`ip filter`, `ip6 nat`…): iptables-nft makes a table the first
 * time a rule goes in and never removes it, so teardown deletes the ones that were not there
 * before and are empty again. Empty when `nft` is missing (then empty tables stay behind).
 */
export async function nftTables(): Promise<string[]> {
  const listed = await sh('nft', ['-j', 'list', 'tables']).then(
    ({ stdout }) => JSON.parse(stdout) as { nftables: { table?: { family: string; name: string } }[] },
    () => ({ nftables: [] }),
  );
  return listed.nftables.flatMap((entry) =>
    entry.table ? [`${entry.table.family} ${entry.table.name}`] : [],
  );
}

async function deleteNewEmptyTables(before: readonly string[]): Promise<void> {
  for (const table of await nftTables()) {
    if (before.includes(table)) continue;
    const [family = '', name = ''] = table.split(' ');
    const { stdout } = await sh('nft', ['-j', 'list', 'table', family, name]).catch(() => ({ stdout: '' }));
    const content = (stdout ? JSON.parse(stdout) : { nftables: [] }) as {
      nftables: Record<string, unknown>[];
    };
    // Only base chains left (the ones iptables-nft makes with the table), no rule, set or map.
    const busy = content.nftables.some(
      (entry) =>
        'rule' in entry ||
        'set' in entry ||
        'map' in entry ||
        ('chain' in entry && !('hook' in (entry.chain as object))),
    );
    if (!busy) await trySh('nft', ['delete', 'table', family, name]);
  }
}

/** Candidate /24s for the node's bridge: the first no route on the machine touches is used. */
const NODE_SUBNETS = ['10.77.0', '10.78.0', '10.79.0', '10.87.0'];
/**
 * Apart from the ranges the main suites use, so both can run on one machine at once: the pod
 * runner puts pod addresses from 10.244.0.0/16 on `lo`, and their API servers take 10.96.0.0/16.
 */
const POD_CIDR = '10.245.0.0/24';
const SERVICE_CIDR = '10.97.0.0/24';

/** Brings the node's bridge, routes and forwarding rules up. Call `cleanNetwork` first. */
export async function setUpNetwork(): Promise<NodeNetwork> {
  const used = await usedPrefixes();
  for (const cidr of [POD_CIDR, SERVICE_CIDR]) {
    if (used.some((p) => overlaps(p, cidr)))
      throw new Error(`${cidr} is already routed on this machine (ip route); the test node needs it`);
  }
  const base = NODE_SUBNETS.find((s) => !used.some((p) => overlaps(p, `${s}.0/24`)));
  if (base === undefined) throw new Error(`none of ${NODE_SUBNETS.join(', ')} is free for the node bridge`);
  const network: NodeNetwork = {
    nodeIp: `${base}.1`,
    nodeCidr: `${base}.0/24`,
    podCidr: POD_CIDR,
    podGateway: '10.245.0.1',
    serviceCidr: SERVICE_CIDR,
    ipForwardBefore: (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim(),
  };
  await sh('ip', ['link', 'add', NODE_BRIDGE, 'type', 'bridge']);
  await sh('ip', ['addr', 'add', `${network.nodeIp}/24`, 'dev', NODE_BRIDGE]);
  await sh('ip', ['link', 'set', NODE_BRIDGE, 'up']);
  // The CNI bridge's own route (metric 0) wins once it exists; until then, and for Service
  // addresses kube-proxy has no rule for, packets go to a bridge with no ports, i.e. nowhere.
  await sh('ip', ['route', 'add', POD_CIDR, 'dev', NODE_BRIDGE, 'metric', '4000']);
  await sh('ip', ['route', 'add', SERVICE_CIDR, 'dev', NODE_BRIDGE]);
  await sh('iptables', ['-w', '-N', FORWARD_CHAIN]);
  for (const rule of [
    ['-i', CNI_BRIDGE, '-o', CNI_BRIDGE, '-j', 'RETURN'],
    ['-i', CNI_BRIDGE, '-o', NODE_BRIDGE, '-j', 'RETURN'],
    ['-i', NODE_BRIDGE, '-o', CNI_BRIDGE, '-j', 'RETURN'],
    ['-i', CNI_BRIDGE, '-j', 'DROP'],
    ['-o', CNI_BRIDGE, '-j', 'DROP'],
  ])
    await sh('iptables', ['-w', '-A', FORWARD_CHAIN, ...rule]);
  await sh('iptables', ['-w', '-I', 'FORWARD', '1', '-j', FORWARD_CHAIN]);
  // Pod → Service → pod is forwarded (in and out of the CNI bridge); the bridge plugin would
  // turn this on itself, for good. Teardown restores the old value.
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  return network;
}

/** The CNI config (one bridge network) for containerd's conf dir; IPAM state under `dataDir`. */
export function cniConfig(network: NodeNetwork, dataDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: CNI_NETWORK,
      plugins: [
        {
          type: 'bridge',
          bridge: CNI_BRIDGE,
          isGateway: true,
          // No NAT: pods only talk to each other and the node, never out.
          ipMasq: false,
          // A pod reaching itself through a Service.
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: network.podCidr, gateway: network.podGateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir,
          },
        },
      ],
    },
    null,
    2,
  );
}

/**
 * Removes everything setUpNetwork and the node made, whether from this run or a killed one;
 * finds nothing to do on a clean machine. `kubeProxy` (the binary) removes kube-proxy's chains.
 */
export async function cleanNetwork(
  options: { kubeProxy?: string; ipForward?: string; nftTablesBefore?: readonly string[] } = {},
): Promise<void> {
  // Veths left on the CNI bridge (their pods' namespaces gone with containerd's state).
  const ports = await sh('ip', ['-j', 'link', 'show', 'master', CNI_BRIDGE]).then(
    ({ stdout }) => JSON.parse(stdout || '[]') as { ifname: string }[],
    () => [],
  );
  for (const { ifname } of ports) await trySh('ip', ['link', 'delete', ifname]);
  for (const bridge of [CNI_BRIDGE, NODE_BRIDGE]) await trySh('ip', ['link', 'delete', bridge]);
  // The routes went with the bridge; our chain goes now.
  while (await trySh('iptables', ['-w', '-D', 'FORWARD', '-j', FORWARD_CHAIN])) {}
  await trySh('iptables', ['-w', '-F', FORWARD_CHAIN]);
  await trySh('iptables', ['-w', '-X', FORWARD_CHAIN]);
  if (options.kubeProxy !== undefined) await trySh(options.kubeProxy, ['--cleanup', '--v=0']);
  // What --cleanup leaves: the kubelet's canary chains, or anything of a kube-proxy killed mid-sync.
  for (const command of ['iptables', 'ip6tables']) await removeKubeChains(command);
  if (options.nftTablesBefore !== undefined) await deleteNewEmptyTables(options.nftTablesBefore);
  if (options.ipForward !== undefined) await writeFile('/proc/sys/net/ipv4/ip_forward', options.ipForward);
  // libcni caches each attachment's result under /var/lib/cni whatever the config says.
  const results = '/var/lib/cni/results';
  for (const entry of await readdir(results).catch(() => [] as string[]))
    if (entry.startsWith(`${CNI_NETWORK}-`)) await rm(join(results, entry), { force: true });
  for (const dir of [results, '/var/lib/cni']) await rmdir(dir).catch(() => undefined);
}

/** The KUBE-* chains an iptables-save text declares, by table. Pure. */
export function kubeChainsIn(saved: string): Map<string, Set<string>> {
  let table = '';
  const chains = new Map<string, Set<string>>();
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    const chain = /^:(KUBE-\S+)/.exec(line)?.[1];
    if (chain !== undefined) chains.set(table, (chains.get(table) ?? new Set()).add(chain));
  }
  return chains;
}

/**
 * Refuses to start beside another Kubernetes: its kube-proxy and kubelet keep KUBE-* chains, the
 * test node's kube-proxy would rewrite them, and its teardown deletes every KUBE-* chain.
 * Call it after a killed run of ours is undone and before the run's state is saved: a run that
 * fails to start is undone like any other, and that would take the other's chains.
 */
export async function refuseForeignKubernetes(): Promise<void> {
  for (const command of ['iptables', 'ip6tables']) {
    const chains = kubeChainsIn((await sh(`${command}-save`, [])).stdout);
    const named = [...chains].flatMap(([table, names]) => [...names].map((n) => `${table}/${n}`));
    const more = named.length > 3 ? ` and ${named.length - 3} more` : '';
    if (named.length > 0) {
      const found = `${named.slice(0, 3).join(', ')}${more}`;
      const why = 'the test node would rewrite and then delete its KUBE-* chains, so it does not start here';
      throw new Error(`another Kubernetes manages ${command} on this machine (${found}): ${why}`);
    }
  }
}

/**
 * Deletes every KUBE-* chain (the test node refuses to start where another Kubernetes has any)
 * and every rule that jumps to one, table by table.
 */
async function removeKubeChains(command: string): Promise<void> {
  const saved = await sh(`${command}-save`, []).then(
    ({ stdout }) => stdout,
    () => '',
  );
  const chains = kubeChainsIn(saved);
  let table = '';
  const jumps: { table: string; rule: string[] }[] = [];
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (rule?.[1] && !rule[1].startsWith('KUBE-') && / -j KUBE-| -g KUBE-/.test(` ${rule[2]}`))
      jumps.push({ table, rule: [rule[1], ...splitRule(rule[2] ?? '')] });
  }
  for (const { table: t, rule } of jumps) await trySh(command, ['-w', '-t', t, '-D', ...rule]);
  for (const [t, names] of chains) {
    for (const name of names) await trySh(command, ['-w', '-t', t, '-F', name]);
    for (const name of names) await trySh(command, ['-w', '-t', t, '-X', name]);
  }
}

/** Splits an iptables-save rule into arguments, keeping "quoted strings" whole. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** Every destination prefix in any routing table and every address on the machine. */
async function usedPrefixes(): Promise<string[]> {
  const routes = JSON.parse((await sh('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout) as {
    dst: string;
  }[];
  return routes
    .map((r) => r.dst)
    .filter((dst) => dst !== 'default' && dst !== undefined)
    .map((dst) => (dst.includes('/') ? dst : `${dst}/32`));
}

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** Whether two IPv4 CIDRs share an address. */
export function overlaps(a: string, b: string): boolean {
  const range = (cidr: string): [number, number] => {
    const [ip = '', bits = '32'] = cidr.split('/');
    const size = 2 ** (32 - Number(bits));
    const start = Math.floor(toInt(ip) / size) * size;
    return [start, start + size - 1];
  };
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
}
