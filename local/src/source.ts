import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { handlerOf, inlineFileName, specHash } from '@nimbus/api';
import { listTree } from './folder-listing.js';
import type { LoadedFunction } from './function-files.js';
import { ownWrites, statePaths } from './state-paths.js';

/** A function's code, on disk where a replica can load it. */
export interface MaterializedSource {
  dir: string;
  /** Changes whenever the code does, so an edit rolls out a new revision. */
  fingerprint: string;
}

export class SourceError extends Error {
  constructor(
    readonly field: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${field}: ${message}`, options);
    this.name = 'SourceError';
  }
}

/**
 * Puts a function's code where a runtime can load it: inline text is written under the state
 * folder, one folder per version of the text; a `source.path` is used where it is.
 */
export async function materializeSource(fn: LoadedFunction, stateDir: string): Promise<MaterializedSource> {
  const { spec, metadata } = fn.resource;
  if (spec.image !== undefined) {
    throw new SourceError(
      'spec.image',
      spec.runtime === 'container'
        ? 'local mode runs a container function as a process: give spec.command and spec.source.path; images need a cluster'
        : 'local mode runs code from spec.source; images need a cluster',
    );
  }
  const inline = spec.source?.inline;
  if (inline !== undefined) {
    const fingerprint = specHash(inline, spec.handler);
    const dir = join(statePaths(stateDir).functions, metadata.namespace, metadata.name, fingerprint);
    const file = join(dir, inlineFileName(handlerOf(spec), spec.runtime));
    // Written once per version: a reload that rewrote it would touch the disk for nothing.
    if ((await readFile(file, 'utf8').catch(() => undefined)) !== inline) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, inline);
    }
    return { dir, fingerprint };
  }
  const path = spec.source?.path as string;
  const dir = isAbsolute(path) ? path : resolve(fn.baseDir, path);
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    // The state folder is left out: inline sources written there would change this fingerprint.
    entries = (await listTree(dir, ownWrites(stateDir)))
      .filter((e) => e.kind === 'file')
      .map((e) => `${e.path}:${e.size}:${e.mtimeMs}`);
  } catch (err) {
    const shown = relative(process.cwd(), dir) || dir;
    throw new SourceError('spec.source.path', `${shown} is not a readable directory`, { cause: err });
  }
  return { dir, fingerprint: specHash(dir, entries) };
}
