import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Env } from '@nimbus/api';
import type { SecretReader } from '@nimbus/sources';
import { SecretNotGivenError } from './setup-failure.js';
import type { TriggerSecrets } from './source-runner.js';

/** `NIMBUS_SECRET_<NAME>_<KEY>`, upper-cased, anything but letters and digits as `_`. */
export function secretEnvName(name: string, key: string): string {
  return `NIMBUS_SECRET_${name}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * Local mode's Secrets, for the source triggers of the Functions in its folder: a value from the
 * environment (`NIMBUS_SECRET_ORDERS_DB_URL` for Secret orders-db, key url), else from a file
 * `<dir>/<secret>/<key>` under NIMBUS_SECRETS_DIR, the layout a mounted Secret has. There is no
 * namespace boundary on a laptop: every Function there is the user's own.
 */
export class LocalTriggerSecrets implements TriggerSecrets {
  constructor(
    private readonly env: Env,
    private readonly dir: string | undefined,
  ) {}

  reader(): SecretReader {
    return {
      read: async (ref) => {
        const fromEnv = this.env[secretEnvName(ref.name, ref.key)];
        if (fromEnv !== undefined) return fromEnv;
        const inDir = this.dir !== undefined && safeName(ref.name) && safeName(ref.key);
        if (inDir) {
          try {
            return (await readFile(join(this.dir, ref.name, ref.key), 'utf8')).trimEnd();
          } catch {
            // Said below.
          }
        }
        const file = this.dir === undefined ? '' : ` or in ${join(this.dir, ref.name, ref.key)}`;
        throw new SecretNotGivenError(
          `secret ${ref.name}`,
          `Secret ${ref.name} key ${ref.key} is not set: give it as ${secretEnvName(ref.name, ref.key)}${file}`,
          await this.given(ref.name, inDir),
        );
      },
    };
  }

  /** Whether any key of the Secret is given: its folder is there, or a variable of its prefix is set. */
  private async given(name: string, inDir: boolean): Promise<boolean> {
    const prefix = secretEnvName(name, '');
    if (Object.keys(this.env).some((k) => k.startsWith(prefix) && k.length > prefix.length)) return true;
    if (!inDir || this.dir === undefined) return false;
    return (await stat(join(this.dir, name)).catch(() => undefined))?.isDirectory() === true;
  }
}

/** A name that stays one entry of the folder. */
const safeName = (name: string): boolean => !name.includes('/') && !name.startsWith('.');
