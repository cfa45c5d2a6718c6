import path from 'node:path';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface HandlerRef {
  /** `<module>` part of NIMBUS_HANDLER, relative to the function directory. */
  readonly module: string;
  /** `<export>` part of NIMBUS_HANDLER; `default` for an ES default export or `module.exports = fn`. */
  readonly exportName: string;
}

export interface RuntimeConfig {
  readonly port: number;
  readonly host: string;
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
  /** Gateway base URL without a trailing slash, for ctx.invoke. */
  readonly gatewayUrl: string | undefined;
  readonly logLevel: LogLevel;
}

export type Env = Readonly<Record<string, string | undefined>>;

const MAX_TIMEOUT_MS = 3_600_000;
const EXPORT_NAME = /^[A-Za-z_$][\w$]*$/;

/**
 * Parses the runtime's environment once, at start-up. Throws an Error naming the key and what it
 * accepts; an empty value counts as unset so templated manifests can leave a key blank.
 */
export function loadConfig(env: Env): RuntimeConfig {
  const timeoutMs = integer(env, 'NIMBUS_TIMEOUT_MS', 30_000, 1, MAX_TIMEOUT_MS);
  return Object.freeze({
    port: integer(env, 'PORT', 8080, 0, 65_535),
    host: text(env, 'HOST', '0.0.0.0'),
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
    gatewayUrl: gatewayUrl(env),
    logLevel: oneOf(env, 'NIMBUS_LOG_LEVEL', LOG_LEVELS, 'info'),
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
    throw new Error(`${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function boolean(env: Env, key: string, fallback: boolean): boolean {
  const raw = read(env, key)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new Error(`${key} must be true or false, got ${JSON.stringify(env[key])}`);
}

function oneOf<T extends string>(env: Env, key: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, key);
  if (raw === undefined) return fallback;
  const value = allowed.find((candidate) => candidate === raw.toLowerCase());
  if (value === undefined) {
    throw new Error(`${key} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
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
    throw new Error(`${expected} the function directory (e.g. index.default), got ${JSON.stringify(raw)}`);
  }
  const segments = module.split(/[\\/]/);
  if (path.isAbsolute(module) || segments.includes('..') || module.includes('\0')) {
    throw new Error(`${expected} the function directory, without "..", got ${JSON.stringify(raw)}`);
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
    throw new Error(`NIMBUS_GATEWAY_URL must be an http(s) URL, got ${JSON.stringify(raw)}`, {
      cause: error,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`NIMBUS_GATEWAY_URL must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  return url.href.replace(/\/+$/, '');
}
