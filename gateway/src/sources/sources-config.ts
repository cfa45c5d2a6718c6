import { type Env, readInt } from '@nimbus/api';

/** Event-source triggers. */
export interface SourcesConfig {
  /**
   * How long a pushed trigger (a webhook, S3 notifications) still accepts the secret its Secret
   * held before a rotation, from when the gateway sees the new value (NIMBUS_SOURCE_SECRET_GRACE_MS;
   * 0: the old one is refused at once, as after a leak).
   */
  readonly secretGraceMs: number;
}

export const DEFAULT_SOURCE_SECRET_GRACE_MS = 5 * 60_000;

export function readSourcesConfig(env: Env): SourcesConfig {
  return Object.freeze({
    secretGraceMs: readInt(
      env,
      'NIMBUS_SOURCE_SECRET_GRACE_MS',
      DEFAULT_SOURCE_SECRET_GRACE_MS,
      0,
      24 * 3_600_000,
    ),
  });
}
