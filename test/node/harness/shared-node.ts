import { type HostSnapshot, assertLeftNothing, footprintOf, hostSnapshot } from './host-snapshot.js';
import { ensureHostPackages, stderrProgress, unsupportedReason } from './host.js';
import { RealNode } from './node.js';

let starting: Promise<RealNode> | undefined;
let baseline: HostSnapshot | undefined;

/**
 * The run's one real node, started by the first suite that asks (a minute or two with the caches
 * warm) and stopped at the end by the root hook: suites share it as a cluster's tenants do, each
 * in namespaces of its own.
 */
export function sharedNode(): Promise<RealNode> {
  starting ??= RealNode.start({ progress: stderrProgress });
  return starting;
}

/**
 * Before any suite: installs the Debian packages the node needs where missing, undoes a run that was killed mid-way, then notes the machine as it is, so
 * the end can show the node left nothing behind.
 */
export async function noteMachine(): Promise<void> {
  if (unsupportedReason() !== undefined) return;
  // iptables, ip and the rest must be there before the machine can be looked at.
  await ensureHostPackages(stderrProgress);
  await RealNode.cleanLeftovers(stderrProgress);
  baseline = await hostSnapshot();
}

/**
 * Stops the shared node, if one was started, and fails (naming what) if the machine is not as
 * it was before: no link, rule, route, mount, setting or process of the node may stay.
 */
export async function stopSharedNode(): Promise<void> {
  const node = await starting?.catch(() => undefined);
  starting = undefined;
  if (node === undefined) return;
  const footprint = footprintOf(node);
  const started = Date.now();
  await node.stop();
  stderrProgress(`real node stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (baseline !== undefined) await assertLeftNothing(baseline, footprint);
}
