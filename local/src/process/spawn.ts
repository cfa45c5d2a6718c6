import { type ChildProcess, spawn } from 'node:child_process';

/** How a runtime process is started: a seam, so tests can count or fail spawns. */
export type Spawn = (entry: string, env: Record<string, string>) => ChildProcess;

/** A runtime-node child with an IPC channel (readiness, state calls and specialisation travel on it). */
export const spawnRuntime: Spawn = (entry, env) =>
  spawn(process.execPath, [entry], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
