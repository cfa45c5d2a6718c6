import { resolve } from 'node:path';
import type { ErrorDetail, LogLevel } from '@nimbus/api';
import { ConfigError, readErrorDetail, readInt, readLogLevel } from '@nimbus/api';
import { type AutoscalerTuning, readAutoscalerTuning } from '@nimbus/controller/autoscale/config';
import { type GatewayConfig, loadGatewayConfig } from '@nimbus/gateway';
import { type StoreConfig, parseStoreConfig } from '@nimbus/store';
import type { BackoffPolicy } from './process/restart-backoff.js';

export interface LocalConfig {
  /** The folder of Function YAML files. */
  readonly functionsDir: string;
  /** Where local mode keeps what it writes: inline sources, the generated admin key. */
  readonly stateDir: string;
  readonly logLevel: LogLevel;
  readonly backoff: BackoffPolicy;
  /** Generic runtime processes kept started, so a function at zero takes one over (0: none). */
  readonly warmPoolSize: number;
  /** Log lines kept per function for GET /system/logs (NIMBUS_LOG_LINES). */
  readonly logLinesPerFunction: number;
  /**
   * Values of the Secrets source triggers name: NIMBUS_SECRET_<NAME>_<KEY> variables, and files
   * `<secretsDir>/<secret>/<key>` (NIMBUS_SECRETS_DIR, unset: none).
   */
  readonly secrets: { readonly env: Env; readonly dir: string | undefined };
  /** `NIMBUS_AUTOSCALER_*`, as in a cluster. */
  readonly autoscaler: Partial<AutoscalerTuning>;
  readonly gateway: GatewayConfig;
  /**
   * NIMBUS_REDIS_URL and the store's limits: with a URL, function state (ctx.state) is in that
   * Redis, without one in the supervisor's memory; either way replicas reach it over IPC only,
   * through the supervisor, which holds the store and enforces the limits.
   */
  readonly store: StoreConfig;
  /**
   * NIMBUS_ERROR_DETAIL, `full` unless set: this is the developer's own machine, so a handler's
   * error and a load failure's reason reach the caller (the browser, curl). `none` shows callers
   * only the invocation id, as a cluster does by default.
   */
  readonly errorDetail: ErrorDetail;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Local mode's settings, from the environment and an optional folder argument
 * (`npm start -- ./my-functions`). The gateway listens on loopback unless HOST says otherwise.
 */
export function loadLocalConfig(env: Env, args: readonly string[] = [], cwd = process.cwd()): LocalConfig {
  if (args.length > 1) throw new ConfigError('arguments', `expected at most one folder, got ${args.length}`);
  const logLevel = readLogLevel(env);
  const baseMs = readInt(env, 'NIMBUS_RESTART_BACKOFF_MS', 250, 1, 60_000);
  const maxMs = readInt(env, 'NIMBUS_RESTART_BACKOFF_MAX_MS', 30_000, baseMs, 3_600_000);
  return Object.freeze({
    functionsDir: resolve(cwd, args[0] ?? (env.NIMBUS_FUNCTIONS_DIR || 'examples')),
    stateDir: resolve(cwd, env.NIMBUS_STATE_DIR || '.nimbus'),
    logLevel,
    backoff: Object.freeze({ baseMs, maxMs, stableAfterMs: 10_000 }),
    warmPoolSize: readInt(env, 'NIMBUS_WARM_POOL_SIZE', 1, 0, 64),
    logLinesPerFunction: readInt(env, 'NIMBUS_LOG_LINES', 2000, 0, 1_000_000),
    autoscaler: readAutoscalerTuning(env),
    // Callbacks may reach the developer's own receivers on loopback (never the platform's ports).
    gateway: loadGatewayConfig({ ...env, HOST: env.HOST || '127.0.0.1' }, { egressAllow: 'loopback' }),
    store: parseStoreConfig(env),
    errorDetail: readErrorDetail(env, 'full'),
    secrets: Object.freeze({
      env: Object.freeze(
        Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('NIMBUS_SECRET_'))),
      ),
      dir: env.NIMBUS_SECRETS_DIR ? resolve(cwd, env.NIMBUS_SECRETS_DIR) : undefined,
    }),
  });
}
