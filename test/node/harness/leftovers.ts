import { mkdir, readFile, readdir, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unmountUnder } from './containerd.js';
import { type Progress, exists } from './host.js';
import { CGROUP_ROOT, restoreSysctls } from './kubelet.js';
import { cleanNetPol } from './netpol.js';
import { cleanNetwork } from './network.js';

/**
 * What a run of the real node must undo, written down as it goes so that a run killed mid-way
 * (SIGKILL, a lost terminal) is undone by the next start: its processes (by PID, checked by
 * start time so a reused PID is never hit), its mounts and dirs, its network, the kernel
 * settings it changed, its cgroups, and the kubelet's links in /var/log/containers.
 */

const STATE_FILE = '/run/nimbus-test-node/state.json';

export interface ProcessRecord {
  pid: number;
  /** /proc/<pid>/stat's start time: with the PID, names one process for good. */
  startTime: string;
  name: string;
}

export interface RunState {
  dir: string;
  ipForward?: string;
  /** nftables tables before the run (see nftTables). */
  nftTablesBefore?: string[];
  sysctls?: Record<string, string>;
  kubeProxy?: string;
  /** Which of KUBELET_HOST_PATHS were there before the run. */
  hostPathsBefore?: Record<string, boolean>;
  processes: ProcessRecord[];
  /** Other dirs of the run (the control plane's), removed with it. */
  otherDirs?: string[];
}

export async function saveState(state: RunState): Promise<void> {
  await mkdir('/run/nimbus-test-node', { recursive: true });
  await writeFile(STATE_FILE, JSON.stringify(state, null, 2));
}

export async function readState(): Promise<RunState | undefined> {
  const text = await readFile(STATE_FILE, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as RunState);
}

async function startTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // Fields after the command name (which may hold spaces) start at the last ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export async function processRecord(pid: number, name: string): Promise<ProcessRecord | undefined> {
  const time = await startTime(pid);
  return time === undefined ? undefined : { pid, startTime: time, name };
}

/** SIGKILLs the process if it is still the one recorded; waits (bounded) until it is gone. */
async function killRecorded(record: ProcessRecord): Promise<void> {
  if ((await startTime(record.pid)) !== record.startTime) return;
  try {
    process.kill(record.pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while ((await startTime(record.pid)) === record.startTime && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
}

/** Processes in the pods' cgroups (containers, pause) and shims serving a containerd under `dir`. */
async function strayPids(dir: string): Promise<number[]> {
  const pids = new Set<number>();
  const walk = async (cgroup: string): Promise<void> => {
    const procs = await readFile(join(cgroup, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of procs.split('\n')) if (line !== '') pids.add(Number(line));
    for (const entry of await readdir(cgroup, { withFileTypes: true }).catch(() => []))
      if (entry.isDirectory()) await walk(join(cgroup, entry.name));
  };
  await walk(join('/sys/fs/cgroup/pids', CGROUP_ROOT));
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!args[0]?.includes('containerd-shim')) continue;
    const at = args.indexOf('-address');
    if (at >= 0 && args[at + 1]?.startsWith(`${dir}/`)) pids.add(Number(entry));
  }
  return [...pids];
}

/** Removes CGROUP_ROOT from every v1 hierarchy, the deepest cgroups first (they must be empty). */
export async function removeCgroups(): Promise<void> {
  const remove = async (cgroup: string): Promise<void> => {
    for (const entry of await readdir(cgroup, { withFileTypes: true }).catch(() => []))
      if (entry.isDirectory()) await remove(join(cgroup, entry.name));
    await rmdir(cgroup).catch(() => undefined);
  };
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[]))
    await remove(join('/sys/fs/cgroup', hierarchy, CGROUP_ROOT));
}

/**
 * What the kubelet writes outside its root dir whatever it is told: links to the containers'
 * logs, and its device-plugin socket.
 */
export const KUBELET_HOST_PATHS = [
  '/var/log/containers',
  '/var/lib/kubelet/device-plugins/kubelet.sock',
  '/var/lib/kubelet/device-plugins',
  '/var/lib/kubelet',
] as const;

export async function hostPathsNow(): Promise<Record<string, boolean>> {
  const found: Record<string, boolean> = {};
  for (const path of KUBELET_HOST_PATHS) found[path] = await exists(path);
  return found;
}

/**
 * Removes the kubelet's links in /var/log/containers into our pod log dir, and whichever of
 * KUBELET_HOST_PATHS were not there before the run (directories only once empty).
 */
export async function removeKubeletHostPaths(dir: string, before: Record<string, boolean>): Promise<void> {
  const links = '/var/log/containers';
  for (const entry of await readdir(links).catch(() => [] as string[])) {
    const target = await readlink(join(links, entry)).catch(() => '');
    if (target.startsWith(`${dir}/`)) await rm(join(links, entry), { force: true });
  }
  for (const path of KUBELET_HOST_PATHS) {
    if (before[path] !== false) continue;
    if (path.endsWith('.sock')) await rm(path, { force: true });
    else await rmdir(path).catch(() => undefined);
  }
}

/**
 * Undoes a run from its state: kills what is left of its processes, then what runs in its pods'
 * cgroups, unmounts and removes its dir, cleans the network and puts kernel settings back.
 */
export async function undoRun(state: RunState, progress: Progress): Promise<void> {
  for (const record of [...state.processes].reverse()) await killRecorded(record);
  for (let pass = 0; pass < 3; pass++) {
    const stray = await strayPids(state.dir);
    if (stray.length === 0) break;
    for (const pid of stray) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await unmountUnder(state.dir);
  await removeCgroups();
  await removeKubeletHostPaths(state.dir, state.hostPathsBefore ?? {});
  await cleanNetPol();
  await cleanNetwork({
    kubeProxy: state.kubeProxy,
    ipForward: state.ipForward,
    nftTablesBefore: state.nftTablesBefore,
  });
  if (state.sysctls !== undefined) await restoreSysctls(state.sysctls);
  for (const dir of [state.dir, ...(state.otherDirs ?? [])]) {
    await unmountUnder(dir);
    if (await exists(dir)) await rm(dir, { recursive: true, force: true });
  }
  await rm(STATE_FILE, { force: true });
  progress(`real node: cleaned up after the run in ${state.dir}`);
}

/** Before a start: undoes a run that was killed before its stop(). */
export async function undoKilledRun(progress: Progress): Promise<void> {
  const state = await readState();
  if (state === undefined) return;
  progress(`real node: a run in ${state.dir} did not stop cleanly; undoing it first`);
  await undoRun(state, progress);
}
