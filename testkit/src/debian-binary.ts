import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A server binary the tests need, and the Debian package that brings it. */
export interface DebianBinary {
  readonly binary: string;
  readonly pkg: string;
}

const installing = new Map<string, Promise<string>>();

/**
 * The binary's path: on PATH, in the sbin directories a non-root PATH lacks, or from apt-get once per
 * process (as root, or through sudo -n), so a test run on a fresh Debian machine brings its own.
 */
export function debianBinary(wanted: DebianBinary): Promise<string> {
  let found = installing.get(wanted.binary);
  if (found === undefined) {
    found = findOrInstall(wanted);
    installing.set(wanted.binary, found);
    // Let a later call try again rather than cache the failure.
    found.catch(() => installing.delete(wanted.binary));
  }
  return found;
}

async function findOrInstall({ binary, pkg }: DebianBinary): Promise<string> {
  const found = await findOnPath(binary);
  if (found !== undefined) return found;
  const asRoot = process.getuid?.() === 0;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const [command, prefix] = asRoot ? ['apt-get', []] : ['sudo', ['-n', 'apt-get']];
  try {
    await run(command, [...prefix, 'update'], { env, maxBuffer: 16 * 1024 * 1024 });
    await run(command, [...prefix, 'install', '-y', '--no-install-recommends', pkg], {
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    throw new Error(
      `the tests need ${binary}; it is not on PATH nor in /usr/sbin, and installing it with apt-get failed ` +
        `(install the ${pkg} package, or put the binary on PATH)`,
      { cause: err },
    );
  }
  const installed = await findOnPath(binary);
  if (installed === undefined)
    throw new Error(`apt-get installed ${pkg} but ${binary} is nowhere to be found`);
  return installed;
}

async function findOnPath(binary: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter((d) => d !== '')) {
    const candidate = join(dir, binary);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
