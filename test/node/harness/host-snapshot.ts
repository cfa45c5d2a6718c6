import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { exists, sh } from './host.js';
import { CGROUP_ROOT, readSysctls } from './kubelet.js';
import { hostPathsNow } from './leftovers.js';
import type { RealNode } from './node.js';

/** What of the machine a run may change: links, iptables rules, mounts, paths, settings. */
export async function hostSnapshot() {
  return {
    links: (await sh('ip', ['-o', 'link', 'show'])).stdout,
    iptables: (await sh('iptables-save', [])).stdout,
    ip6tables: (await sh('ip6tables-save', [])).stdout,
    routes: (await sh('ip', ['route', 'show', 'table', 'all'])).stdout,
    mounts: await readFile('/proc/mounts', 'utf8'),
    paths: await hostPathsNow(),
    cgroup: await exists(`/sys/fs/cgroup/pids${CGROUP_ROOT}`),
    sysctls: {
      ...(await readSysctls()),
      ip_forward: await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8'),
    },
  };
}

const linkNames = (text: string) =>
  text
    .split('\n')
    .map((line) => line.split(':')[1]?.trim().split('@')[0])
    .filter((name): name is string => name !== undefined && name !== '')
    .sort();

/** iptables-save without its comment lines and packet counters. */
const rules = (text: string) =>
  text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, ''))
    .filter((line) => line !== '')
    .sort();

export type HostSnapshot = Awaited<ReturnType<typeof hostSnapshot>>;

/** What a node's stop must have undone, read before it goes (its PIDs, dir and address ranges). */
export interface NodeFootprint {
  pids: number[];
  dir: string;
  /** The /24s' first three octets, e.g. `10.77.0.`. */
  prefixes: string[];
}

export function footprintOf(node: RealNode): NodeFootprint {
  return {
    pids: node.pids(),
    dir: node.dir,
    prefixes: [node.network.nodeCidr, node.network.podCidr, node.network.serviceCidr].map((cidr) =>
      cidr.split('.').slice(0, 3).join('.').concat('.'),
    ),
  };
}

/**
 * Asserts the machine is as `baseline` found it once a node has stopped: the same links and
 * iptables rules, no route, mount, path, setting, cgroup or process of the node left.
 */
export async function assertLeftNothing(baseline: HostSnapshot, footprint: NodeFootprint): Promise<void> {
  const { pids, dir, prefixes } = footprint;
  const after = await hostSnapshot();
  assert.deepEqual(linkNames(after.links), linkNames(baseline.links));
  assert.deepEqual(rules(after.iptables), rules(baseline.iptables));
  assert.deepEqual(rules(after.ip6tables), rules(baseline.ip6tables));
  // Other work on the machine may change routes meanwhile: only ours are compared.
  const ours = (routes: string) =>
    routes
      .split('\n')
      .filter((line) => /nimbus-/.test(line) || prefixes.some((p) => line.includes(p)))
      .join('\n');
  assert.equal(ours(after.routes), ours(baseline.routes));
  assert.deepEqual(after.paths, baseline.paths);
  assert.deepEqual(after.sysctls, baseline.sysctls);
  assert.equal(after.cgroup, false);
  assert.equal(await exists(dir), false, `${dir} is still there`);
  assert.deepEqual(
    after.mounts.split('\n').filter((line) => line.includes(dir)),
    [],
  );
  const alive = pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  assert.deepEqual(alive, [], 'processes of the node still running');
  const { stdout } = await sh('ps', ['-eo', 'pid,args']);
  assert.deepEqual(
    stdout.split('\n').filter((line) => line.includes(dir) || line.includes('nimbus-node')),
    [],
  );
}
