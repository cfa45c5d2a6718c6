import { type ChildProcess, spawn } from 'node:child_process';
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
