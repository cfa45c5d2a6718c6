/**
 * Where ctx.state keeps its keys, from the environment:
 * - none: state is not enabled; every call says so.
 * - redis: a Redis the runtime logs in to, in a cluster as the function's own ACL user (the
 *   controller hands it the username, and the password in a file from the function's Secret).
 * - supervisor: the local-mode supervisor's in-memory store, over the IPC channel it spawned the
 *   runtime with, so every replica of the function shares one key space.
 */
export type StateSettings =
  | { readonly backend: 'none' }
  | {
      readonly backend: 'supervisor';
      /** A call without an answer by then fails as unavailable. */
      readonly timeoutMs: number;
    }
  | {
      readonly backend: 'redis';
      /** `redis://` or `rediss://`; may carry credentials (local mode) unless a username or password is given. */
      readonly url: string;
      readonly username: string | undefined;
      readonly password: string | undefined;
      /** Read when the connection is first opened (a mounted Secret); an alternative to `password`. */
      readonly passwordFile: string | undefined;
      readonly timeoutMs: number;
      readonly maxValueBytes: number;
    };

export type StateBackend = StateSettings['backend'];

export const STATE_BACKENDS: readonly StateBackend[] = ['none', 'redis', 'supervisor'];

/** The keys {@link loadStateSettings} reads (also function settings: a pool replica drops its own). */
export const STATE_SETTINGS = [
  'NIMBUS_STATE_BACKEND',
  'NIMBUS_STATE_REDIS_URL',
  'NIMBUS_STATE_REDIS_USERNAME',
  'NIMBUS_STATE_REDIS_PASSWORD',
  'NIMBUS_STATE_REDIS_PASSWORD_FILE',
  'NIMBUS_STATE_TIMEOUT_MS',
  'NIMBUS_STATE_MAX_VALUE_BYTES',
] as const;

const REDIS_ONLY = [
  'NIMBUS_STATE_REDIS_URL',
  'NIMBUS_STATE_REDIS_USERNAME',
  'NIMBUS_STATE_REDIS_PASSWORD',
  'NIMBUS_STATE_REDIS_PASSWORD_FILE',
];

export const DEFAULT_STATE_TIMEOUT_MS = 1_000;
export const DEFAULT_STATE_MAX_VALUE_BYTES = 64 * 1024;

type Env = Readonly<Record<string, string | undefined>>;

/** Reports a bad setting; the caller's error class names the key. */
export type Refuse = (key: string, message: string) => Error;

/**
 * The state settings. NIMBUS_STATE_BACKEND defaults to `redis` when NIMBUS_STATE_REDIS_URL is
 * set, else `none`. Passwords are never echoed in an error.
 */
export function loadStateSettings(env: Env, refuse: Refuse): StateSettings {
  const url = read(env, 'NIMBUS_STATE_REDIS_URL');
  const raw = read(env, 'NIMBUS_STATE_BACKEND')?.toLowerCase();
  const backend = raw ?? (url === undefined ? 'none' : 'redis');
  if (!STATE_BACKENDS.includes(backend as StateBackend))
    throw refuse(
      'NIMBUS_STATE_BACKEND',
      `NIMBUS_STATE_BACKEND must be one of ${STATE_BACKENDS.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  const timeoutMs = integer(env, 'NIMBUS_STATE_TIMEOUT_MS', DEFAULT_STATE_TIMEOUT_MS, 10, 60_000, refuse);
  // Checked whatever the backend, so a bad value is caught before it matters.
  const maxValueBytes = integer(
    env,
    'NIMBUS_STATE_MAX_VALUE_BYTES',
    DEFAULT_STATE_MAX_VALUE_BYTES,
    1,
    16 * 1024 * 1024,
    refuse,
  );
  if (backend !== 'redis') {
    const stray = REDIS_ONLY.find((key) => read(env, key) !== undefined);
    if (stray !== undefined)
      throw refuse(stray, `${stray} is set, but NIMBUS_STATE_BACKEND is ${backend}; it needs redis`);
  }
  if (backend === 'none') return Object.freeze({ backend });
  if (backend === 'supervisor') return Object.freeze({ backend, timeoutMs });
  if (url === undefined)
    throw refuse(
      'NIMBUS_STATE_REDIS_URL',
      'NIMBUS_STATE_REDIS_URL must be set when NIMBUS_STATE_BACKEND is redis',
    );
  if (!/^rediss?:\/\/[^\s/]+(\/\d*)?$/.test(url))
    throw refuse(
      'NIMBUS_STATE_REDIS_URL',
      'NIMBUS_STATE_REDIS_URL must be a redis:// or rediss:// URL such as redis://redis.nimbus.svc:6379',
    );
  const password = read(env, 'NIMBUS_STATE_REDIS_PASSWORD');
  const passwordFile = read(env, 'NIMBUS_STATE_REDIS_PASSWORD_FILE');
  if (password !== undefined && passwordFile !== undefined)
    throw refuse(
      'NIMBUS_STATE_REDIS_PASSWORD_FILE',
      'set NIMBUS_STATE_REDIS_PASSWORD or NIMBUS_STATE_REDIS_PASSWORD_FILE, not both',
    );
  const username = read(env, 'NIMBUS_STATE_REDIS_USERNAME');
  if (username !== undefined && password === undefined && passwordFile === undefined)
    throw refuse(
      'NIMBUS_STATE_REDIS_USERNAME',
      'NIMBUS_STATE_REDIS_USERNAME needs NIMBUS_STATE_REDIS_PASSWORD or NIMBUS_STATE_REDIS_PASSWORD_FILE',
    );
  return Object.freeze({
    backend: 'redis' as const,
    url,
    username,
    password,
    passwordFile,
    timeoutMs,
    maxValueBytes,
  });
}

function read(env: Env, key: string): string | undefined {
  const value = env[key]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, key: string, fallback: number, min: number, max: number, refuse: Refuse): number {
  const raw = read(env, key);
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw refuse(key, `${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}
