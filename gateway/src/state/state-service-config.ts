import { ConfigError, type Env, readInt } from '@nimbus/api';
import { MIN_STATE_KEY_LENGTH } from '@nimbus/store';

/** The state service: where function pods reach ctx.state, on a port of its own (never the public one). */
export interface StateServiceConfig {
  readonly host: string;
  readonly port: number;
  /** The platform's state key: function tokens are HMACs under it (the controller holds it too). */
  readonly key: string;
}

/**
 * NIMBUS_STATE_PORT turns the service on (the chart sets it; local mode needs none, its replicas
 * ask the supervisor); it then needs NIMBUS_STATE_KEY, at least 32 characters. NIMBUS_STATE_HOST
 * (0.0.0.0) is the address it listens on.
 */
export function readStateServiceConfig(env: Env): StateServiceConfig | undefined {
  if ((env.NIMBUS_STATE_PORT ?? '') === '') return undefined;
  const port = readInt(env, 'NIMBUS_STATE_PORT', 0, 0, 65535);
  const key = env.NIMBUS_STATE_KEY ?? '';
  if (key.length < MIN_STATE_KEY_LENGTH)
    throw new ConfigError(
      'NIMBUS_STATE_KEY',
      `must be set, at least ${MIN_STATE_KEY_LENGTH} characters, when NIMBUS_STATE_PORT is (function state tokens are made with it)`,
    );
  return Object.freeze({ host: env.NIMBUS_STATE_HOST || '0.0.0.0', port, key });
}
