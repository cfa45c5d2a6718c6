import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { tapOutput } from './output-tap.js';

/** How a runtime process is started: a seam, so tests can count or fail spawns. */
export type Spawn = (entry: string, env: Record<string, string>) => ChildProcess;

/** A runtime-node child with an IPC channel (readiness, state calls and specialisation travel on it). */
export const spawnRuntime: Spawn = (entry, env) => {
  const child = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  // Its lines go on to local mode's output, and to its function's log book once it has one.
  tapOutput(child);
  return child;
};

/**
 * How a container function's command is started: a seam, as Spawn is. No IPC channel: someone
 * else's program knows nothing of Nimbus, and is told only its environment (PORT among it).
 */
export type SpawnCommand = (
  argv: readonly string[],
  cwd: string,
  env: Record<string, string>,
) => ChildProcess;

/** The command in its folder; a relative program ("./serve") is found there, a bare one on PATH. */
export const spawnCommand: SpawnCommand = (argv, cwd, env) => {
  const child = spawn(argv[0] as string, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  tapOutput(child);
  return child;
};

/**
 * A runtime-python child: `python3 run.py`, with the same IPC channel as runtime-node (Node's
 * JSON lines on NODE_CHANNEL_FD), so the supervisor treats both alike.
 */
export const spawnPythonRuntime: Spawn = (entry, env) => {
  const child = spawn(pythonExecutable(), [entry], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  tapOutput(child);
  return child;
};

let python: string | undefined;

/**
 * The interpreter `python3` on PATH stands for, asked once: a version manager's shim (pyenv's)
 * puts a shell script in front of it that costs a cold start about 300 ms every time. NIMBUS_PYTHON
 * names another interpreter.
 */
export function pythonExecutable(): string {
  if (python !== undefined) return python;
  const given = process.env.NIMBUS_PYTHON;
  try {
    const found = execFileSync(given ?? 'python3', ['-c', 'import sys; print(sys.executable)'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    python = found === '' ? (given ?? 'python3') : found;
  } catch {
    // Not there: the spawn says so, as a replica that cannot start.
    python = given ?? 'python3';
  }
  return python;
}
