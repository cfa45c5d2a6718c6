import type { ChildProcess } from 'node:child_process';
import { mkdir, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unmountUnder } from './containerd.js';
import {
  type Progress,
  type RunOptions,
  cacheDir,
  exists,
  launch,
  sh,
  stderrProgress,
  trySh,
} from './host.js';

/**
 * A dockerd (Debian's docker.io) for image builds only, run against the test's containerd: no
 * bridge, no iptables rules, no forwarding, builds on the host network. Its data root lives in
 * ~/.cache/nimbus/docker so base images and build layers are reused across runs; its sockets,
 * exec root and pidfile live in the run's own directory.
 *
 * One data root admits one dockerd, so a lock file beside it says which test process owns it; a
 * lock whose owner is dead is taken over, after stopping the dockerd that owner left (found by
 * the PID the lock records and checked against its command line). A live owner is waited for.
 */

export interface DockerdOptions {
  /** containerd's gRPC socket. */
  containerdSocket: string;
  /** This run's directory for the daemon's socket, exec root, pidfile and log (kept short: it holds sockets). */
  workDir: string;
  progress?: Progress;
  /** How long to wait for another test run's dockerd to finish with the data root (default 30 min). */
  lockTimeoutMs?: number;
}

interface LockRecord {
  owner: number;
  dockerd?: number;
}

export class Dockerd {
  readonly socket: string;
  private stopped = false;
  /** Image IDs this run's builds made or reused. */
  private readonly used = new Set<string>();

  private constructor(
    private readonly child: ChildProcess,
    readonly workDir: string,
    private readonly lockFile: string,
    private readonly progress: Progress,
  ) {
    this.socket = join(workDir, 'docker.sock');
  }

  static async start(options: DockerdOptions): Promise<Dockerd> {
    const progress = options.progress ?? stderrProgress;
    const { workDir } = options;
    const dataRoot = cacheDir('docker');
    await mkdir(dataRoot, { recursive: true });
    await mkdir(workDir, { recursive: true });
    const lockFile = cacheDir('docker.lock');
    await takeLock(lockFile, dataRoot, options.lockTimeoutMs ?? 30 * 60_000, progress);

    const socket = join(workDir, 'docker.sock');
    const pidFile = join(workDir, 'docker.pid');
    const execRoot = join(workDir, 'exec');
    const configFile = join(workDir, 'daemon.json');
    const logFile = join(workDir, 'dockerd.log');
    await rm(socket, { force: true });
    await rm(pidFile, { force: true });
    // Its own (empty) config file: never the machine's /etc/docker/daemon.json.
    await writeFile(configFile, '{}\n');
    const child = launch(
      '/usr/sbin/dockerd',
      [
        `--containerd=${options.containerdSocket}`,
        `--data-root=${dataRoot}`,
        `--exec-root=${execRoot}`,
        `--pidfile=${pidFile}`,
        `--config-file=${configFile}`,
        '-H',
        `unix://${socket}`,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--ip-forward=false',
        '--ip-masq=false',
        '--userland-proxy=false',
        '--storage-driver=overlay2',
        '--log-level=warn',
      ],
      logFile,
    );
    const dockerd = new Dockerd(child, workDir, lockFile, progress);
    await writeFile(
      lockFile,
      JSON.stringify({ owner: process.pid, dockerd: child.pid } satisfies LockRecord),
    );
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `dockerd exited (${signal ?? code})`;
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited !== undefined) {
        await dockerd.stop();
        throw new Error(`${exited} before it answered: ${await logTail(logFile)}`);
      }
      if ((await exists(socket)) && (await trySh('docker', ['-H', `unix://${socket}`, 'version']))) break;
      if (Date.now() > deadline) {
        await dockerd.stop();
        throw new Error(`dockerd did not answer on ${socket} in 60 s: ${await logTail(logFile)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    progress(`dockerd ${child.pid} up on ${socket}`);
    return dockerd;
  }

  /** `docker -H unix://<socket> <args>`. */
  docker(args: readonly string[], options: RunOptions = {}) {
    return sh('docker', ['-H', `unix://${this.socket}`, ...args], options);
  }

  /** A legacy-builder build (no buildx here; it ignores `# syntax=`) on the host network, from `cwd`. */
  async build(args: readonly string[], cwd: string): Promise<void> {
    const { stdout } = await this.docker(['build', '--network', 'host', '--force-rm', ...args], {
      cwd,
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      timeoutMs: 30 * 60_000,
    });
    // "---> 1a2b3c4d5e6f": the images of each step, the untagged build stages' among them.
    for (const match of stdout.matchAll(/---> ([0-9a-f]{12})\b/g)) this.used.add(match[1] as string);
  }

  /**
   * Removes the untagged images no build of this run used (an earlier source tree's build stages
   * and images whose tag moved on), so the cached data root does not grow with every change;
   * this run's build stages stay, as the next run's cache.
   */
  async pruneUnused(): Promise<void> {
    const { stdout } = await this.docker(['images', '--filter', 'dangling=true', '--format', '{{.ID}}']);
    const stale = stdout.split('\n').filter((id) => id !== '' && !this.used.has(id.slice(0, 12)));
    for (const id of stale) await this.docker(['rmi', id]).catch(() => undefined);
    if (stale.length > 0) this.progress(`dockerd: removed ${stale.length} unused untagged images`);
  }

  /** `docker save` of `names` straight into `ctr images import` (no archive on disk). */
  async saveInto(names: readonly string[], ctrArgs: readonly string[]): Promise<void> {
    // $0 the daemon, $1 how many names follow, then the names, then ctr's arguments.
    await sh(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        'docker -H "$0" save "${@:2:$1}" | ctr "${@:$(($1 + 2))}" -',
        `unix://${this.socket}`,
        String(names.length),
        ...names,
        ...ctrArgs,
      ],
      { timeoutMs: 10 * 60_000 },
    );
  }

  /**
   * `docker import`s a root file system tarball as `tag`, with Dockerfile `changes`, unless the
   * image there already carries `key` (the recipe that made the tarball) as its label.
   */
  async importTarball(tarball: string, tag: string, key: string, changes: readonly string[]): Promise<void> {
    const current = await this.docker([
      'image',
      'inspect',
      '--format',
      '{{ index .Config.Labels "nimbus.recipe" }}',
      tag,
    ]).then(
      ({ stdout }) => stdout.trim(),
      () => '',
    );
    if (current === key) return;
    await this.docker([
      'import',
      ...[...changes, `LABEL nimbus.recipe=${key}`].flatMap((change) => ['--change', change]),
      tarball,
      tag,
    ]);
    this.progress(`dockerd: imported ${tag} (${key})`);
  }

  /** Stops the daemon by PID, unmounts what it left in its exec root, and gives up the data root's lock. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const { child } = this;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20_000).unref());
      if ((await Promise.race([exited.then(() => true), timeout])) === false) {
        this.progress(`dockerd ${child.pid} did not stop on SIGTERM in 20 s; killing it`);
        child.kill('SIGKILL');
        await exited;
      }
    }
    await unmountUnder(this.workDir);
    // Overlay mounts of build containers live under the data root.
    await unmountUnder(join(cacheDir('docker'), 'overlay2')).catch(() => undefined);
    await unlink(this.lockFile).catch(() => undefined);
  }
}

/** Takes the data root's lock: waits while a live test process holds it, takes over a dead one's. */
async function takeLock(
  lockFile: string,
  dataRoot: string,
  timeoutMs: number,
  progress: Progress,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(JSON.stringify({ owner: process.pid } satisfies LockRecord));
      await handle.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const record = await readFile(lockFile, 'utf8').then(
      (text) => JSON.parse(text) as LockRecord,
      () => undefined,
    );
    if (record !== undefined && record.owner !== process.pid && alive(record.owner)) {
      if (Date.now() > deadline) {
        throw new Error(
          `dockerd's data root ${dataRoot} is still in use by process ${record.owner} (${lockFile})`,
        );
      }
      if (!told) progress(`dockerd: waiting for process ${record.owner} to finish with ${dataRoot}`);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    // The owner is gone (or the lock is unreadable): stop the dockerd it may have left behind.
    if (record?.dockerd !== undefined && (await isDockerdOn(record.dockerd, dataRoot))) {
      progress(`dockerd: stopping ${record.dockerd}, left running on ${dataRoot} by a run that ended`);
      await stopPid(record.dockerd);
    }
    await unlink(lockFile).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function isDockerdOn(pid: number, dataRoot: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const args = cmdline.split('\0');
  return (args[0] ?? '').endsWith('dockerd') && args.includes(`--data-root=${dataRoot}`);
}

async function stopPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 20_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

async function logTail(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-15).join('\n');
}
