import { join } from 'node:path';

/** The files and folders local mode writes in its state folder. */
export function statePaths(stateDir: string): { adminKey: string; functions: string } {
  return { adminKey: join(stateDir, 'admin-key'), functions: join(stateDir, 'functions') };
}

/**
 * Every path local mode writes itself, which the folder watcher and the `source.path` listings
 * leave out: were they seen, each reload's writes would be a change and start another reload.
 * The state folder, and what it holds, for a state folder that is the functions folder itself.
 */
export function ownWrites(stateDir: string): string[] {
  const { adminKey, functions } = statePaths(stateDir);
  return [stateDir, adminKey, functions];
}
