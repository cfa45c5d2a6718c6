import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

/**
 * Every child process a benchmark starts, so each can be killed by its PID at the end, on an
 * error, on Ctrl-C or when the time limit strikes: no load generator or server outlives a run.
 */
export class Children {
  private readonly live = new Set<ChildProcess>();

  spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
    const child = spawn(command, args, options);
    if (child.pid === undefined) {
      // spawn() reports ENOENT and friends asynchronously; there is no process to track.
      return child;
    }
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    return child;
  }

  /** SIGKILL by PID, then wait until the process has exited, so its port and CPU are free again. */
  async stop(child: ChildProcess): Promise<void> {
    if (child.pid === undefined) return;
    const gone = exited(child);
    killByPid(child);
    await gone;
    this.live.delete(child);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((child) => this.stop(child)));
  }

  /** For the moments when nothing can be awaited any more (the time limit, process exit). */
  killAllNow(): void {
    for (const child of this.live) killByPid(child);
    this.live.clear();
  }
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Why the process never started (for example ENOENT), when it did not. */
  readonly error?: Error;
}

/** Resolves when the child has exited (at once if it already has), or failed to start. */
export function exited(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      child.off('error', onError);
      resolve({ code, signal });
    };
    // A process that never started emits 'error' and no 'exit'; later errors (a failed kill) are not exits.
    const onError = (error: Error) => {
      if (child.pid !== undefined) return;
      child.off('exit', onExit);
      resolve({ code: null, signal: null, error });
    };
    child.once('exit', onExit);
    child.on('error', onError);
  });
}

function killByPid(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch (error) {
    // ESRCH: it exited between the check and the kill.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * NIMBUS_BENCH_CPU_PROF=<dir>: node flags for the process a bench profiles (the controller, the
 * gateway), which writes a V8 CPU profile there when it stops gently. None when unset.
 */
export function cpuProfileFlags(): string[] {
  const dir = process.env.NIMBUS_BENCH_CPU_PROF;
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/** SIGTERM and the exit that follows, so a CPU profile is written (SIGKILL would lose it). */
export async function stopGently(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  child.kill('SIGTERM');
  await gone;
}
