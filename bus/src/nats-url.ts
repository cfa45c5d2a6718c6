import { ConfigError, type Env } from '@nimbus/api';

/** `NIMBUS_NATS_URL`: nats://, tls:// or ws(s)://, comma-separated for a cluster; unset: none. */
export function readNatsUrl(env: Env): string | undefined {
  const raw = env.NIMBUS_NATS_URL || undefined;
  if (raw === undefined) return undefined;
  for (const url of raw.split(',')) {
    if (!/^(nats|tls|wss?):\/\/[^/\s]+\/?$/.test(url.trim()))
      throw new ConfigError(
        'NIMBUS_NATS_URL',
        `"${url.trim()}" is not a NATS URL such as nats://nats.nimbus.svc:4222`,
      );
  }
  return raw;
}
