import type { ErrorDetail, FunctionResource } from '@nimbus/api';
import { containerSettings, runtimeSettings } from '@nimbus/controller/resources/runtime-settings';

export interface ReplicaEnvSettings {
  /** Where ctx.invoke reaches other functions. */
  gatewayUrl: string;
  /** Variables of the platform's own process that replicas inherit (PATH and the like). */
  inherited: Readonly<Record<string, string | undefined>>;
  /** NIMBUS_ERROR_DETAIL for the replica; unset, the runtime's own default (none). */
  errorDetail?: ErrorDetail;
  /** The supervisor's state value limit, so a replica refuses a larger value before sending it. */
  stateMaxValueBytes?: number;
}

/** Passed through from the platform's environment; everything else a function sees it declares. */
const INHERITED = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'NODE_EXTRA_CA_CERTS'];

/** The variables of the platform's own process that every runtime process inherits. */
export function inheritedEnv(from: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * The environment of a runtime-node replica, built from the Function alone: the process
 * backend's counterpart of a Deployment's pod template. Pure, so it is tested as a table.
 */
export function buildReplicaEnv(
  fn: FunctionResource,
  sourceDir: string,
  settings: ReplicaEnvSettings,
): Record<string, string> {
  const env = inheritedEnv(settings.inherited);
  for (const variable of fn.spec.env ?? []) env[variable.name] = variable.value;
  Object.assign(env, runtimeSettings(fn), {
    HOST: '127.0.0.1',
    PORT: '0',
    NIMBUS_FUNCTION_DIR: sourceDir,
    NIMBUS_GATEWAY_URL: settings.gatewayUrl,
  });
  if (settings.errorDetail !== undefined) env.NIMBUS_ERROR_DETAIL = settings.errorDetail;
  // ctx.publish asks the supervisor too, which publishes as this function with the gateway's checks.
  env.NIMBUS_EVENTS_BACKEND = 'supervisor';
  // ctx.state asks the supervisor over IPC, which keeps the store (memory or Redis) and its limits:
  // a replica gets no Redis URL or credentials, so it cannot bypass them.
  if (fn.spec.state?.enabled === true) {
    env.NIMBUS_STATE_BACKEND = 'supervisor';
    if (settings.stateMaxValueBytes !== undefined)
      env.NIMBUS_STATE_MAX_VALUE_BYTES = String(settings.stateMaxValueBytes);
  }
  return env;
}

/**
 * The environment of a container function's command: what its pod would get, less what only a
 * cluster has, and HOST. PORT is the replica's own, added when its port is known.
 */
export function buildCommandEnv(
  fn: FunctionResource,
  settings: Pick<ReplicaEnvSettings, 'gatewayUrl' | 'inherited'>,
): Record<string, string> {
  const env = inheritedEnv(settings.inherited);
  for (const variable of fn.spec.env ?? []) env[variable.name] = variable.value;
  // HOST: a program that reads it listens on loopback only, reached through the gateway alone.
  return Object.assign(env, containerSettings(fn), {
    HOST: '127.0.0.1',
    NIMBUS_GATEWAY_URL: settings.gatewayUrl,
  });
}
