import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SpecialiseInputError } from './specialise-env.js';

/** A function's code as a specialise command may carry it: relative path to file text. */
export type FunctionFiles = Readonly<Record<string, string>>;

/** The code of one inline function is at most a ConfigMap's 1 MiB; this leaves room for JSON escaping. */
export const MAX_FILES_BYTES = 1_048_576;

// Relative, forward slashes, no `.`/`..` segment, no NUL or backslash: it cannot leave its folder.
const SEGMENT = /^(?!\.\.?$)[^/\\\0]+$/;

/** Checks a command's `files`: an object of relative paths to strings, 1 MiB in all. Throws SpecialiseInputError naming the part. */
export function functionFiles(value: unknown): FunctionFiles {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SpecialiseInputError('files', 'files must be an object of relative paths to file text');
  }
  const files: Record<string, string> = Object.create(null);
  let bytes = 0;
  for (const [path, text] of Object.entries(value)) {
    if (path === '' || !path.split('/').every((segment) => SEGMENT.test(segment))) {
      throw new SpecialiseInputError(
        `files.${path}`,
        `file paths must be relative, without "." or ".." segments, backslashes or NUL, got ${JSON.stringify(path)}`,
      );
    }
    if (typeof text !== 'string')
      throw new SpecialiseInputError(`files.${path}`, `files.${path} must be a string`);
    bytes += Buffer.byteLength(text);
    files[path] = text;
  }
  if (bytes > MAX_FILES_BYTES) {
    throw new SpecialiseInputError('files', `files hold ${bytes} bytes; at most ${MAX_FILES_BYTES}`);
  }
  return Object.freeze(files);
}

/**
 * Writes the files into a new folder of their own under `root` (the pod's writable /tmp) and
 * returns it, to become the function's NIMBUS_FUNCTION_DIR. Synchronous: it runs once, before the
 * handler loads, and the files are small.
 */
export function writeFunctionFiles(files: FunctionFiles, root = tmpdir()): string {
  const dir = join(root, `nimbus-function-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [path, text] of Object.entries(files)) {
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    writeFileSync(target, text, { mode: 0o400 });
  }
  return dir;
}
