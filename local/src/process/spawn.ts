import { type ChildProcess, spawn } from 'node:child_process';

/** How a runtime process is started: a seam, so tests can count or fail spawns. */
export type Spawn = (entry: string, env: Record<string, string>) => ChildProcess;

/** A runtime-node child with an IPC channel (readiness, state calls and specialisation travel on it). */
export const spawnRuntime: Spawn = (entry, env) =>
  spawn(process.execPath, [entry], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

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
export const spawnCommand: SpawnCommand = (argv, cwd, env) =>
  spawn(argv[0] as string, argv.slice(1), { cwd, env, stdio: ['ignore', 'inherit', 'inherit'] });
