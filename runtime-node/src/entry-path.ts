import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the bundled runtime (dist/runtime-node.cjs, written by `npm run bundle`), for
 * supervisors and tests that spawn `node <path>`.
 */
export function runtimeEntryPath(): string {
  // This module compiles to dist/src/entry-path.js; the bundle sits in dist/.
  return fileURLToPath(new URL('../runtime-node.cjs', import.meta.url));
}
