import { type ChildProcess, spawn } from 'node:child_process';
import { eventually } from './eventually.js';
import { stopChild } from './stop-child.js';

/** Servers the tests started; a run that ends abruptly must not leave one behind. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  // 'exit' handlers must be synchronous: a kill by PID is, and it only reaches our own children.
  for (const child of running) child.kill('SIGKILL');
});

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The last 64 KiB of what it wrote to stdout and stderr. */
  output(): string;
}

/**
 * Spawns a server this process owns (killed by its PID should the process exit without stopping
 * it) and waits, polling `ready` with a deadline, until it serves. An exit, or a spawn that fails,
 * ends the wait at once; either way the server is stopped and the error names `what` with the
 * last of its output. `onOutput` sees every chunk it writes, for a caller that keeps its own log.
 */
export async function startServerProcess(
  binary: string,
  args: readonly string[],
  options: {
    what: string;
    ready: () => Promise<boolean>;
    readyTimeoutMs: number;
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    /** Runs it as this OS user and group (a server that refuses root, such as PostgreSQL). */
    uid?: number;
    gid?: number;
    onOutput?: (text: string) => void;
  },
): Promise<ServerProcess> {
  const child = spawn(binary, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: options.cwd,
    env: options.env,
    uid: options.uid,
    gid: options.gid,
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-65_536);
    options.onOutput?.(text);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  running.add(child);
  child.once('exit', () => running.delete(child));
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`${options.what} exited (${signal ?? code})`)));
    // A spawn that fails (a binary gone) emits this rather than exit.
    child.once('error', reject);
  });
  exited.catch(() => {}); // a later exit (a stop) is not an error
  try {
    await Promise.race([
      exited,
      eventually(
        async () => ((await options.ready()) ? true : undefined),
        options.readyTimeoutMs,
        `${options.what} to be ready`,
      ),
    ]);
  } catch (err) {
    // A process that never spawned has no PID and may never emit exit.
    if (child.pid !== undefined) await stopChild(child, 5_000);
    throw new Error(`${options.what} did not start (${(err as Error).message}):\n${output.slice(-8_000)}`, {
      cause: err,
    });
  }
  return { child, output: () => output };
}
