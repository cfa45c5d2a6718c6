/**
 * Reading a process's settings from its environment. Each component parses its env once, at
 * start-up, into a frozen config; a bad value throws a ConfigError naming the variable, which stops
 * the start with a message an operator can act on.
 */
import { type LogLevel, isLogLevel } from './log.js';
import { isNamespace } from './names.js';

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(
    /** The variable at fault, so a start-up failure can name it on its own. */
    readonly key: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`${key}: ${problem}`, options);
    this.name = 'ConfigError';
  }
}

/** A whole number from `min` to `max`; `fallback` when unset or empty. */
export function readInt(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  // Digits only: Number() would also take "0x10", "1e3" and " 4".
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(key, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** `NIMBUS_WATCH_NAMESPACES`: a comma-separated list of namespaces; empty or unset means all. */
export function parseWatchNamespaces(raw: string | undefined): readonly string[] | undefined {
  const names = (raw ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) return undefined;
  for (const name of names) {
    if (!isNamespace(name))
      throw new ConfigError('NIMBUS_WATCH_NAMESPACES', `"${name}" is not an RFC 1123 label`);
  }
  return Object.freeze([...new Set(names)]);
}

/**
 * `NIMBUS_REPORT_TOKEN`: the Bearer token of the gateways' calls to the controllers (reports,
 * wakes, the concurrency view). `required` names why it must be set: without it anyone who can
 * reach the controller's port could scale any function, so a component that serves or sends
 * these calls refuses to start rather than run them open.
 */
export function readReportToken(env: Env, required: string): string;
export function readReportToken(env: Env, required?: undefined): string | undefined;
export function readReportToken(env: Env, required?: string): string | undefined {
  const token = env.NIMBUS_REPORT_TOKEN || undefined;
  if (token === undefined && required !== undefined) {
    throw new ConfigError('NIMBUS_REPORT_TOKEN', `must be set (16 characters or more): ${required}`);
  }
  if (token !== undefined && token.length < 16) {
    throw new ConfigError('NIMBUS_REPORT_TOKEN', 'must have at least 16 characters');
  }
  return token;
}

/** `NIMBUS_LOG_LEVEL`: debug, info (the default), warn or error. */
export function readLogLevel(env: Env): LogLevel {
  const level = env.NIMBUS_LOG_LEVEL || 'info';
  if (!isLogLevel(level)) {
    throw new ConfigError('NIMBUS_LOG_LEVEL', `must be one of debug, info, warn, error, got "${level}"`);
  }
  return level;
}

/** What a caller learns of a function's failure: its error text (`full`), or an id and a generic message (`none`). */
export type ErrorDetail = 'full' | 'none';

/**
 * `NIMBUS_ERROR_DETAIL`: `full` or `none`, handed to every runtime replica (and used by local
 * mode's gateway for a load failure). The fallback differs by where it runs: `full` on the
 * developer's machine, `none` in a cluster.
 */
export function readErrorDetail(env: Env, fallback: ErrorDetail): ErrorDetail {
  const raw = env.NIMBUS_ERROR_DETAIL || fallback;
  if (raw !== 'full' && raw !== 'none') {
    throw new ConfigError('NIMBUS_ERROR_DETAIL', `must be full or none, got "${raw}"`);
  }
  return raw;
}
