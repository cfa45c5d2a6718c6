import { ConfigError, type Env } from '@nimbus/api';

/**
 * `NIMBUS_NATS_URL`: nats://, tls:// or ws(s)://, comma-separated for a cluster; unset: none.
 * Credentials never ride in it (the URL is logged): they come from NIMBUS_NATS_USER and
 * NIMBUS_NATS_PASSWORD, see readNatsCredentials.
 */
export function readNatsUrl(env: Env): string | undefined {
  const raw = env.NIMBUS_NATS_URL || undefined;
  if (raw === undefined) return undefined;
  for (const url of raw.split(',')) {
    if (url.includes('@'))
      throw new ConfigError(
        'NIMBUS_NATS_URL',
        'must not hold credentials; set NIMBUS_NATS_USER and NIMBUS_NATS_PASSWORD instead',
      );
    if (!/^(nats|tls|wss?):\/\/[^/\s]+\/?$/.test(url.trim()))
      throw new ConfigError(
        'NIMBUS_NATS_URL',
        `"${url.trim()}" is not a NATS URL such as nats://nats.nimbus.svc:4222`,
      );
  }
  return raw;
}

/** The user a component logs in to NATS as. */
export interface NatsCredentials {
  readonly user: string;
  readonly pass: string;
}

/**
 * `NIMBUS_NATS_USER` and `NIMBUS_NATS_PASSWORD`: both or neither; neither connects anonymously,
 * which a NATS with authorization refuses. Only meaningful with NIMBUS_NATS_URL.
 */
export function readNatsCredentials(env: Env): NatsCredentials | undefined {
  const user = env.NIMBUS_NATS_USER || undefined;
  const pass = env.NIMBUS_NATS_PASSWORD || undefined;
  if (user === undefined && pass === undefined) return undefined;
  if (user === undefined) throw new ConfigError('NIMBUS_NATS_USER', 'must be set with NIMBUS_NATS_PASSWORD');
  if (pass === undefined) throw new ConfigError('NIMBUS_NATS_PASSWORD', 'must be set with NIMBUS_NATS_USER');
  if (!env.NIMBUS_NATS_URL)
    throw new ConfigError(
      'NIMBUS_NATS_USER',
      'is set but NIMBUS_NATS_URL is not: there is no NATS to log in to',
    );
  if (/\s/.test(user)) throw new ConfigError('NIMBUS_NATS_USER', 'must not contain whitespace');
  return Object.freeze({ user, pass });
}
