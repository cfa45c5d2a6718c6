import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Progress, type RunOptions, exists, launch, sh, stderrProgress, trySh } from './host.js';

/**
 * A containerd of the test's own: Debian's containerd 1.6 started as a child process with a
 * config file that keeps its root, state and sockets under one directory, so it never meets a
 * containerd the machine may run itself (/run/containerd, /var/lib/containerd). Its CRI plugin is
 * set up for a kubelet on this kind of machine: cgroup v1 without systemd (runc with cgroupfs),
 * no CAP_SYS_RESOURCE (`restrict_oom_score_adj`, or every sandbox fails with "can't get final
 * child's PID from pipe: EOF"), the Debian CNI plugins, and a sandbox (pause) image of our own,
 * since no registry is reachable. `stop()` leaves nothing behind: no task, no shim, no mount.
 *
 * What containerd 1.6 keeps outside its root and state whatever the config says: the shims'
 * sockets (/run/containerd/s/<hash of our socket path>, removed by each shim as its task is
 * deleted; `stop()` removes the directories it made there once empty). `run()` keeps `ctr`'s
 * runc root and stdio fifos under `dir` too.
 */

export interface ContainerdOptions {
  /** Everything the daemon writes goes under this directory, created if missing. */
  dir: string;
  /** The pod sandbox image (`sandbox_image`), as containerd names it: `docker.io/...:tag`. */
  sandboxImage: string;
  /** Where the CRI plugin reads its CNI network config (the plugins are Debian's, /usr/lib/cni). */
  cniConfDir: string;
  progress?: Progress;
  /** How long to wait for the socket to answer (default 30 s). */
  startTimeoutMs?: number;
}

const CNI_BIN_DIR = '/usr/lib/cni';
/** containerd 1.6's shims put their sockets in `s/` here whatever the config says. */
const RUN_DIR = '/run/containerd';

/** Removes /run/containerd and what is under it only as far as it is empty (never a file, never a busy dir). */
async function removeEmptyRunDirs(): Promise<void> {
  for (const sub of ['s', 'fifo', 'runc/k8s.io', 'runc/moby', 'runc', '']) {
    await rmdir(join(RUN_DIR, sub)).catch(() => undefined);
  }
}
const NAMESPACE = 'k8s.io';

/** containerd's config (version 2, as 1.6 reads it), every path under `dir`. */
export function containerdConfig(options: {
  dir: string;
  sandboxImage: string;
  cniConfDir: string;
}): string {
  const { dir } = options;
  const q = (value: string) => JSON.stringify(value);
  return `# Written by the Nimbus real-node harness (test/node/harness/containerd.ts).
version = 2
root = ${q(join(dir, 'root'))}
state = ${q(join(dir, 'state'))}
oom_score = 0
# Snapshotters this machine has no use for.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = ${q(join(dir, 'containerd.sock'))}

[ttrpc]
  address = ${q(join(dir, 'containerd.sock.ttrpc'))}

[debug]
  address = ${q(join(dir, 'debug.sock'))}
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(dir, 'opt'))}

# The legacy runtime is unused, but 1.6's task service needs it loaded.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = ${q(join(dir, 'runc-v1'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(options.sandboxImage)}
  # Without CAP_SYS_RESOURCE runc cannot lower a process's oom_score_adj below its parent's.
  restrict_oom_score_adj = true
  # The pods' network namespaces under state, not /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # cgroup v1 and no systemd: the kubelet's cgroupDriver is cgroupfs too.
        SystemdCgroup = false
        Root = ${q(join(dir, 'runc'))}

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(CNI_BIN_DIR)}
    conf_dir = ${q(options.cniConfDir)}
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
`;
}

export class Containerd {
  /** The gRPC socket (`unix://` not included), for the kubelet's `--container-runtime-endpoint`. */
  readonly socket: string;
  /** The daemon's log. */
  readonly logFile: string;

  private stopped = false;
  /** Whether /run/containerd was there before: if not, the empty directories the shims made there are removed. */
  private hadRunDir = true;

  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
    private readonly progress: Progress,
  ) {
    this.socket = join(dir, 'containerd.sock');
    this.logFile = join(dir, 'containerd.log');
  }

  /** The CRI endpoint as a kubelet names it. */
  get endpoint(): string {
    return `unix://${this.socket}`;
  }

  /** Writes the config, starts the daemon and waits until it answers on its socket. */
  static async start(options: ContainerdOptions): Promise<Containerd> {
    const progress = options.progress ?? stderrProgress;
    const { dir } = options;
    const configFile = join(dir, 'config.toml');
    await reclaimStale(dir, configFile, progress);
    await mkdir(dir, { recursive: true });
    await mkdir(options.cniConfDir, { recursive: true });
    await writeFile(configFile, containerdConfig(options));
    // A socket left by a killed run would make the daemon refuse to start.
    for (const name of ['containerd.sock', 'containerd.sock.ttrpc', 'debug.sock']) {
      await rm(join(dir, name), { force: true });
    }
    const logFile = join(dir, 'containerd.log');
    const hadRunDir = await exists(RUN_DIR);
    const child = launch('/usr/bin/containerd', ['--config', configFile], logFile);
    const containerd = new Containerd(dir, child, progress);
    containerd.hadRunDir = hadRunDir;
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `containerd exited (${signal ?? code})`;
    });
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    for (;;) {
      if (exited !== undefined) {
        throw new Error(`${exited} before it answered: ${await logTail(logFile)}`);
      }
      if (
        (await exists(containerd.socket)) &&
        (await trySh('ctr', ['--address', containerd.socket, 'version']))
      ) {
        break;
      }
      if (Date.now() > deadline) {
        await containerd.stop().catch(() => undefined);
        throw new Error(
          `containerd did not answer on ${containerd.socket} in time: ${await logTail(logFile)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    progress(`containerd ${child.pid} up on ${containerd.socket}`);
    return containerd;
  }

  /** The daemon's PID. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** `ctr --address <socket> -n k8s.io <args>` (another namespace with `-n` in `namespace`). */
  ctr(args: readonly string[], options: RunOptions & { namespace?: string } = {}) {
    return sh('ctr', ['--address', this.socket, '-n', options.namespace ?? NAMESPACE, ...args], options);
  }

  /**
   * `ctr run --rm` of `image` as container `id` with `args`, its output: the runc root and stdio
   * fifos under `dir` (ctr's own defaults are in /run/containerd).
   */
  async run(
    image: string,
    id: string,
    args: readonly string[],
    flags: readonly string[] = [],
    options: RunOptions = {},
  ) {
    const runcRoot = join(this.dir, 'runc');
    const fifoDir = join(this.dir, 'fifo');
    await mkdir(fifoDir, { recursive: true });
    const { stdout } = await this.ctr(
      ['run', '--rm', `--runc-root=${runcRoot}`, `--fifo-dir=${fifoDir}`, ...flags, image, id, ...args],
      { timeoutMs: 120_000, ...options },
    );
    return stdout;
  }

  /** Image references in the k8s.io namespace, as the kubelet sees them (`docker.io/nimbus/gateway:0.1.0`). */
  async images(): Promise<string[]> {
    const { stdout } = await this.ctr(['images', 'list', '-q']);
    return stdout.split('\n').filter((line) => line !== '');
  }

  /**
   * Kills every task in every namespace (the kubelet's pods in k8s.io, dockerd's build steps in
   * moby, `ctr run`s), stops the daemon and any shim it left, unmounts what is still mounted
   * under `dir` (rootfs overlays, shm, the pods' network namespaces and volumes) and removes it.
   * Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await this.removeTasks().catch((err: Error) =>
        this.progress(`containerd: removing tasks failed: ${err.message}`),
      );
    }
    const shims = await this.shimPids();
    await this.killDaemon();
    for (const pid of shims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await unmountUnder(this.dir);
    // Never delete through a mount point that is still there (a pod's hostPath volume).
    const left = await mountsUnder(this.dir);
    if (left.length > 0)
      throw new Error(`containerd: still mounted under ${this.dir}, not removed: ${left.join(', ')}`);
    await rm(this.dir, { recursive: true, force: true });
    if (!this.hadRunDir) await removeEmptyRunDirs();
  }

  private async removeTasks(): Promise<void> {
    const { stdout } = await this.ctr(['namespaces', 'list', '-q']);
    for (const namespace of stdout.split('\n').filter((line) => line !== '')) {
      const tasks = await this.ctr(['tasks', 'list', '-q'], { namespace });
      for (const id of tasks.stdout.split('\n').filter((line) => line !== '')) {
        await this.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id], { namespace }).catch(() => undefined);
      }
      // A killed task's delete fails until it has exited: retry for a few seconds.
      const deadline = Date.now() + 15_000;
      for (const id of tasks.stdout.split('\n').filter((line) => line !== '')) {
        while (!(await trySh('ctr', ['--address', this.socket, '-n', namespace, 'tasks', 'delete', id]))) {
          if (Date.now() > deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }
  }

  private shimPids(): Promise<number[]> {
    return shimPids(this.socket);
  }

  private async killDaemon(): Promise<void> {
    const { child } = this;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000).unref());
    if ((await Promise.race([exited.then(() => true), timeout])) === false) {
      this.progress(`containerd ${child.pid} did not stop on SIGTERM in 15 s; killing it`);
      child.kill('SIGKILL');
      await exited;
    }
  }
}

/** Shims started for the containerd on `socket`: their command line names it. */
async function shimPids(socket: string): Promise<number[]> {
  return pidsWhere(
    (args) => (args[0] ?? '').includes('containerd-shim') && args[args.indexOf('-address') + 1] === socket,
  );
}

/** Processes whose command line (split at NULs) passes `test`. */
async function pidsWhere(test: (args: string[]) => boolean): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline !== '' && test(cmdline.split('\0'))) pids.push(Number(entry));
  }
  return pids;
}

/**
 * A run killed before its `stop()` leaves its containerd (started with this very config file)
 * and shims running and its mounts in place: stop those processes, found by their command lines,
 * unmount, and clear containerd's own subdirectories before a new daemon takes the directory.
 */
async function reclaimStale(dir: string, configFile: string, progress: Progress): Promise<void> {
  const daemons = await pidsWhere(
    (args) => (args[0] ?? '').endsWith('containerd') && args[args.indexOf('--config') + 1] === configFile,
  );
  const shims = await shimPids(join(dir, 'containerd.sock'));
  if (!(await exists(dir))) return;
  if (daemons.length + shims.length > 0) {
    progress(`containerd: stopping ${[...daemons, ...shims].join(', ')}, left on ${dir} by a run that ended`);
  }
  for (const pid of [...daemons, ...shims]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const deadline = Date.now() + 10_000;
  while ((await pidsWhere((args) => args.includes(configFile))).length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await unmountUnder(dir);
  const left = await mountsUnder(dir);
  if (left.length > 0)
    throw new Error(`containerd: ${dir} still has mounts from an earlier run: ${left.join(', ')}`);
  // What containerd keeps (never anything else the caller put in dir): a fresh daemon each run.
  for (const name of ['root', 'state', 'runc', 'runc-v1', 'opt']) {
    await rm(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Unmounts every mount point at or under `dir` (overlay rootfs, shm, the pods' volumes), the
 * deepest first, from /proc/self/mountinfo; a busy one is detached lazily rather than left.
 */
export async function unmountUnder(dir: string): Promise<void> {
  // Mounts stacked on one point come off one a pass.
  for (let pass = 0; pass < 5; pass++) {
    const points = (await mountsUnder(dir)).sort(
      (a, b) => b.split('/').length - a.split('/').length || b.length - a.length,
    );
    if (points.length === 0) return;
    for (const point of new Set(points)) {
      if (!(await trySh('umount', [point]))) await trySh('umount', ['-l', point]);
    }
  }
}

/** Mount points at or under `dir`, from /proc/self/mountinfo. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map(unescapeMountPath)
    .filter((point) => point === dir || point.startsWith(prefix));
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

async function logTail(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-15).join('\n');
}
