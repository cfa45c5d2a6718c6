import { type FunctionResource, parseDuration } from '@nimbus/api';

export interface ReplicaEnvSettings {
  /** Where ctx.invoke reaches other functions. */
  gatewayUrl: string;
  /** Variables of the platform's own process that replicas inherit (PATH and the like). */
  inherited: Readonly<Record<string, string | undefined>>;
}

/** Passed through from the platform's environment; everything else a function sees it declares. */
const INHERITED = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'NODE_EXTRA_CA_CERTS'];

/**
 * The environment of a runtime-node replica, built from the Function alone: the process
 * backend's counterpart of a Deployment's pod template. Pure, so it is tested as a table.
 */
export function buildReplicaEnv(
  fn: FunctionResource,
  sourceDir: string,
  settings: ReplicaEnvSettings,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = settings.inherited[name];
    if (value !== undefined) env[name] = value;
  }
  for (const variable of fn.spec.env ?? []) env[variable.name] = variable.value;
  const timeoutMs = parseDuration(fn.spec.timeout);
  Object.assign(env, {
    HOST: '127.0.0.1',
    PORT: '0',
    NIMBUS_FUNCTION_NAME: fn.metadata.name,
    NIMBUS_FUNCTION_NAMESPACE: fn.metadata.namespace,
    NIMBUS_FUNCTION_DIR: sourceDir,
    NIMBUS_HANDLER: fn.spec.handler,
    NIMBUS_TIMEOUT_MS: String(timeoutMs),
    NIMBUS_CONCURRENCY: String(fn.spec.concurrency),
    NIMBUS_QUEUE_SIZE: String(fn.spec.concurrency * 2),
    NIMBUS_GATEWAY_URL: settings.gatewayUrl,
  });
  return env;
}
