import path from 'node:path';
import { PUBLISH_SETTINGS, type PublishSettings, loadPublishSettings } from './events/publish-config.js';
import { STATE_SETTINGS, type StateSettings, loadStateSettings } from './state/state-config.js';

import type { LogLevel } from '@nimbus/api/log';

export type { LogLevel };

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export type ErrorDetail = 'full' | 'none';
export const ERROR_DETAILS: readonly ErrorDetail[] = ['full', 'none'];

export interface HandlerRef {
  /** `<module>` part of NIMBUS_HANDLER, relative to the function directory. */
  readonly module: string;
  /** `<export>` part of NIMBUS_HANDLER; `default` for an ES default export or `module.exports = fn`. */
  readonly exportName: string;
}

/** Settings of the process itself, fixed when it starts. */
export interface ProcessConfig {
  readonly port: number;
  readonly host: string;
  /** NIMBUS_POOL: start as a generic warm-pool replica that takes on a function later. */
  readonly pool: boolean;
  /**
   * NIMBUS_POOL_TOKEN_FILE: where a pool replica finds the Bearer token `POST /_/specialise` needs
   * (read once and removed at start, see pool/pool-token.ts). Unset: no HTTP caller may specialise
   * it, only the supervisor over IPC.
   */
  readonly poolTokenFile: string | undefined;
  /**
   * NIMBUS_SHUTDOWN_DELAY_MS: after SIGTERM, how long the replica goes on taking requests (while
   * /_/ready says draining) before it drains, so a pod is out of every gateway's endpoints before
   * its address goes away. 0 in local mode, where the supervisor stops routing first.
   */
  readonly shutdownDelayMs: number;
}

/**
 * Settings of the function a process serves: read from the environment at a normal start, or from
 * the env map of a `specialise` command by a pool replica.
 */
export interface FunctionConfig {
  /** Absolute path of the function's code. */
  readonly functionDir: string;
  readonly handler: HandlerRef;
  readonly functionName: string;
  readonly namespace: string;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly queueSize: number;
  readonly maxBodyBytes: number;
  readonly drainTimeoutMs: number;
  readonly debug: boolean;
  /**
   * NIMBUS_ERROR_DETAIL: what a caller learns of a handler's failure. `none` (the default, and
   * what the controller sets in a cluster unless the operator asks otherwise): the invocation id
   * and a generic message, the error itself only in the log. `full`: the error's message, and its
   * stack with NIMBUS_DEBUG; local mode sets it, the laptop being the developer's own.
   */
  readonly errorDetail: ErrorDetail;
  /** Gateway base URL without a trailing slash, for ctx.invoke. */
  readonly gatewayUrl: string | undefined;
  readonly logLevel: LogLevel;
  /** Where ctx.state keeps its keys (NIMBUS_STATE_*). */
  readonly state: StateSettings;
  /** How ctx.publish reaches the events stream (NIMBUS_EVENTS_*). */
  readonly publish: PublishSettings;
}

export interface RuntimeConfig extends ProcessConfig, FunctionConfig {}

export type Env = Readonly<Record<string, string | undefined>>;

/** The keys {@link loadFunctionConfig} reads. */
export const FUNCTION_SETTINGS = [
  'NIMBUS_FUNCTION_DIR',
  'NIMBUS_HANDLER',
  'NIMBUS_FUNCTION_NAME',
  'NIMBUS_FUNCTION_NAMESPACE',
  'NIMBUS_TIMEOUT_MS',
  'NIMBUS_CONCURRENCY',
  'NIMBUS_QUEUE_SIZE',
  'NIMBUS_MAX_BODY_BYTES',
  'NIMBUS_DRAIN_TIMEOUT_MS',
  'NIMBUS_GATEWAY_URL',
  'NIMBUS_DEBUG',
  'NIMBUS_ERROR_DETAIL',
  'NIMBUS_LOG_LEVEL',
  ...STATE_SETTINGS,
  ...PUBLISH_SETTINGS,
] as const;

/** The keys {@link loadProcessConfig} reads: a function's env map cannot change them. */
export const PROCESS_SETTINGS = [
  'PORT',
  'HOST',
  'NIMBUS_POOL',
  'NIMBUS_POOL_TOKEN',
  'NIMBUS_POOL_TOKEN_FILE',
  'NIMBUS_SHUTDOWN_DELAY_MS',
] as const;

/** A setting that cannot be used; the message names the key and what it accepts. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

const MAX_TIMEOUT_MS = 3_600_000;
const EXPORT_NAME = /^[A-Za-z_$][\w$]*$/;

/**
 * Parses the runtime's environment once, at start-up. Throws a ConfigError naming the key and what
 * it accepts; an empty value counts as unset so templated manifests can leave a key blank.
 */
export function loadConfig(env: Env): RuntimeConfig {
  return Object.freeze({ ...loadProcessConfig(env), ...loadFunctionConfig(env) });
}

export function loadProcessConfig(env: Env): ProcessConfig {
  return Object.freeze({
    port: integer(env, 'PORT', 8080, 0, 65_535),
    host: text(env, 'HOST', '0.0.0.0'),
    pool: boolean(env, 'NIMBUS_POOL', false),
    poolTokenFile: poolTokenFile(env),
    shutdownDelayMs: integer(env, 'NIMBUS_SHUTDOWN_DELAY_MS', 0, 0, 120_000),
  });
}

export function loadFunctionConfig(env: Env): FunctionConfig {
  const refuse = (key: string, message: string) => new ConfigError(key, message);
  const state = loadStateSettings(env, refuse);
  const timeoutMs = integer(env, 'NIMBUS_TIMEOUT_MS', 30_000, 1, MAX_TIMEOUT_MS);
  return Object.freeze({
    functionDir: path.resolve(text(env, 'NIMBUS_FUNCTION_DIR', '/var/nimbus/function')),
    handler: Object.freeze(handlerRef(text(env, 'NIMBUS_HANDLER', 'index.default'))),
    functionName: text(env, 'NIMBUS_FUNCTION_NAME', 'function'),
    namespace: text(env, 'NIMBUS_FUNCTION_NAMESPACE', 'default'),
    timeoutMs,
    concurrency: integer(env, 'NIMBUS_CONCURRENCY', 50, 1, 10_000),
    queueSize: integer(env, 'NIMBUS_QUEUE_SIZE', 100, 0, 100_000),
    maxBodyBytes: integer(env, 'NIMBUS_MAX_BODY_BYTES', 6_291_456, 0, 1_073_741_824),
    drainTimeoutMs: integer(env, 'NIMBUS_DRAIN_TIMEOUT_MS', timeoutMs, 0, MAX_TIMEOUT_MS),
    debug: boolean(env, 'NIMBUS_DEBUG', false),
    errorDetail: oneOf(env, 'NIMBUS_ERROR_DETAIL', ERROR_DETAILS, 'none'),
    gatewayUrl: gatewayUrl(env),
    logLevel: oneOf(env, 'NIMBUS_LOG_LEVEL', LOG_LEVELS, 'info'),
    state,
    publish: loadPublishSettings(env, state, refuse),
  });
}

function read(env: Env, key: string): string | undefined {
  const value = env[key]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function text(env: Env, key: string, fallback: string): string {
  return read(env, key) ?? fallback;
}

function integer(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = read(env, key);
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(key, `${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function boolean(env: Env, key: string, fallback: boolean): boolean {
  const raw = read(env, key)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(key, `${key} must be true or false, got ${JSON.stringify(env[key])}`);
}

function oneOf<T extends string>(env: Env, key: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, key);
  if (raw === undefined) return fallback;
  const value = allowed.find((candidate) => candidate === raw.toLowerCase());
  if (value === undefined) {
    throw new ConfigError(key, `${key} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** `<module>.<export>`; the last dot splits, so `lib/main.mjs.handle` names module `lib/main.mjs`. */
function handlerRef(raw: string): HandlerRef {
  const dot = raw.lastIndexOf('.');
  const module = dot > 0 ? raw.slice(0, dot) : '';
  const exportName = dot > 0 ? raw.slice(dot + 1) : '';
  const expected = 'NIMBUS_HANDLER must be <module>.<export> with the module a relative path inside';
  if (module === '' || !EXPORT_NAME.test(exportName)) {
    throw new ConfigError(
      'NIMBUS_HANDLER',
      `${expected} the function directory (e.g. index.default), got ${JSON.stringify(raw)}`,
    );
  }
  const segments = module.split(/[\\/]/);
  if (path.isAbsolute(module) || segments.includes('..') || module.includes('\0')) {
    throw new ConfigError(
      'NIMBUS_HANDLER',
      `${expected} the function directory, without "..", got ${JSON.stringify(raw)}`,
    );
  }
  return { module, exportName };
}

function gatewayUrl(env: Env): string | undefined {
  const raw = read(env, 'NIMBUS_GATEWAY_URL');
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new ConfigError(
      'NIMBUS_GATEWAY_URL',
      `NIMBUS_GATEWAY_URL must be an http(s) URL, got ${JSON.stringify(raw)}`,
      { cause: error },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(
      'NIMBUS_GATEWAY_URL',
      `NIMBUS_GATEWAY_URL must be an http(s) URL, got ${JSON.stringify(raw)}`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

/**
 * The token itself is never taken from the environment: an env value stays readable in
 * /proc/self/environ for the life of the process, and a function's code runs in that process once
 * it is specialised. The old variable stops the start rather than being ignored in silence.
 */
function poolTokenFile(env: Env): string | undefined {
  if (read(env, 'NIMBUS_POOL_TOKEN') !== undefined) {
    throw new ConfigError(
      'NIMBUS_POOL_TOKEN',
      'NIMBUS_POOL_TOKEN is not read: a token in the environment stays readable in /proc/self/environ; put it in a file and give its path in NIMBUS_POOL_TOKEN_FILE',
    );
  }
  return read(env, 'NIMBUS_POOL_TOKEN_FILE');
}
