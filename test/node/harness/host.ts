import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * What the real-node harness needs from the machine: Linux, root, and these Debian packages,
 * which it installs itself when they are missing (about 30 s). containerd runs the pods and
 * dockerd (against containerd's socket) builds the images; runc, the CNI plugins and iptables
 * are the node's; debootstrap makes the base images no registry can give us; openssl makes the
 * node's certificates; conntrack is kube-proxy's; nft lets a stop remove the empty tables
 * iptables-nft leaves.
 */
export const HOST_PACKAGES = [
  'containerd',
  'runc',
  'containernetworking-plugins',
  'debootstrap',
  'iptables',
  'docker.io',
  'openssl',
  'conntrack',
  'iproute2',
  'nftables',
] as const;

export type Progress = (line: string) => void;

export const stderrProgress: Progress = (line) => process.stderr.write(`${line}\n`);

/** `~/.cache/nimbus/<name>` (or under XDG_CACHE_HOME): what is built once per machine. */
export function cacheDir(...name: string[]): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'nimbus', ...name);
}

export const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Text for the command's standard input. */
  input?: string | Buffer;
  timeoutMs?: number;
}

/**
 * Runs a command to its end and gives its output; a failure names the command and carries the
 * end of what it wrote, so a broken step says why in the test's own output.
 */
export function sh(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        maxBuffer: 256 * 1024 * 1024,
        timeout: options.timeoutMs ?? 30 * 60_000,
      },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ stdout, stderr });
          return;
        }
        const tail = `${stderr}\n${stdout}`.trim().split('\n').slice(-15).join('\n');
        reject(
          new Error(`${command} ${args.join(' ')}: ${err.message.split('\n')[0]}\n${tail}`, { cause: err }),
        );
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like `sh`, but a failure is given back instead of thrown (for clean-ups that may find nothing). */
export async function trySh(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<boolean> {
  try {
    await sh(command, args, options);
    return true;
  } catch {
    return false;
  }
}

/** A long-running process with its output appended to `logFile`. */
export function launch(
  command: string,
  args: readonly string[],
  logFile: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

/** Why this machine cannot run the real node, or undefined when it can. */
export function unsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return `the real node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the real node needs root: it runs containerd, a kubelet and iptables';
  return undefined;
}

/** Installs whichever of HOST_PACKAGES is missing, with apt-get (update first). */
export async function ensureHostPackages(progress: Progress = stderrProgress): Promise<void> {
  const missing: string[] = [];
  for (const name of HOST_PACKAGES) {
    const installed = await sh('dpkg-query', ['-W', '-f=${Status}', name]).then(
      ({ stdout }) => stdout.includes('install ok installed'),
      () => false,
    );
    if (!installed) missing.push(name);
  }
  if (missing.length === 0) return;
  progress(`installing ${missing.join(', ')} with apt-get (first run only)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await sh('apt-get', ['update', '-qq'], { env });
  await sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}
