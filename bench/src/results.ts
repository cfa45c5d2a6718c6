import { mkdir, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** bench/results/, from this module's place in bench/dist/src/. */
const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url));

/**
 * Writes bench/results/<name>.json, through a .tmp file so an interrupted run never leaves a
 * half-written result. Returns the path.
 */
export async function writeResult(name: string, result: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}.json`;
  await writeFile(`${file}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
  return file;
}
