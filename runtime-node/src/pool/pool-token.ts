import { readFileSync, unlinkSync } from 'node:fs';
import { ConfigError } from '../config.js';

const MIN_TOKEN_LENGTH = 16;
// Visible ASCII: a token must fit an Authorization header unchanged.
const TOKEN = /^[\x21-\x7e]+$/;

/** The file operations {@link takePoolToken} needs: a seam for tests. */
export interface TokenFiles {
  readFileSync(path: string, encoding: 'utf8'): string;
  unlinkSync(path: string): void;
}

/**
 * Reads a pool replica's specialise token from NIMBUS_POOL_TOKEN_FILE and removes the file, at
 * start and before any function code can load: once specialised, the function runs in this
 * process, and should find the token neither in its environment nor on disk. (In a pod the file
 * is on a memory-backed emptyDir the init container wrote; see controller/src/resources/pool.ts.)
 * The file is read once, so a restarted container has no token and must not start: its pod is
 * replaced instead. Throws a ConfigError naming the key; the token is never echoed.
 */
export function takePoolToken(path: string, files: TokenFiles = { readFileSync, unlinkSync }): string {
  let text: string;
  try {
    text = files.readFileSync(path, 'utf8');
    files.unlinkSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(
      'NIMBUS_POOL_TOKEN_FILE',
      `NIMBUS_POOL_TOKEN_FILE must name a file holding the pool token; ${path} cannot be taken (${code}): it is read once and removed, so a pool replica cannot restart in the same pod`,
      { cause: error },
    );
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN.test(token)) {
    throw new ConfigError(
      'NIMBUS_POOL_TOKEN_FILE',
      `NIMBUS_POOL_TOKEN_FILE must hold a token of at least ${MIN_TOKEN_LENGTH} visible ASCII characters without spaces`,
    );
  }
  return token;
}
