import path from 'node:path';

/** Tried in this order when NIMBUS_HANDLER names a module without an extension. */
export const MODULE_EXTENSIONS = ['.mjs', '.cjs', '.js'] as const;

/**
 * The files that may hold the handler module, in order of preference: `<module>` itself when it has
 * an extension, else `<module>.mjs`, `<module>.cjs`, `<module>.js`. Throws when the module would
 * resolve outside the function directory.
 */
export function handlerCandidates(functionDir: string, module: string): string[] {
  const resolved = path.resolve(functionDir, module);
  const relative = path.relative(functionDir, resolved);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new Error(
      `handler module ${JSON.stringify(module)} resolves outside the function directory ${functionDir}`,
    );
  }
  if (path.extname(resolved) !== '') return [resolved];
  return MODULE_EXTENSIONS.map((extension) => `${resolved}${extension}`);
}

/** The first candidate that `isFile` accepts; throws naming every file tried. */
export function resolveHandlerPath(
  functionDir: string,
  module: string,
  isFile: (file: string) => boolean,
): string {
  const candidates = handlerCandidates(functionDir, module);
  const found = candidates.find(isFile);
  if (found === undefined) {
    const tried = candidates.map((file) => path.relative(functionDir, file)).join(', ');
    throw new Error(`handler module not found in ${functionDir} (tried ${tried})`);
  }
  return found;
}
