import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the Python runtime's launcher, for supervisors and tests that spawn
 * `python3 <path>`. The Python sources ship as they are: there is nothing to build.
 */
export function pythonRuntimeEntryPath(): string {
  // This module compiles to dist/src/entry-path.js; run.py sits at the package root.
  return fileURLToPath(new URL('../../run.py', import.meta.url));
}
