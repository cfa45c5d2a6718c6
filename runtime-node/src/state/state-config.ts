/**
 * Where ctx.state keeps its keys, from the environment:
 * - none: state is not enabled; every call says so.
 * - service: the gateway's state service (in a cluster), reached with the function's token (the
 *   controller puts it in the function's Secret). The function holds no Redis credentials: the
 *   service enforces the value size and quotas where the function cannot bypass them.
 * - supervisor: the local-mode supervisor, over the IPC channel it spawned the runtime with, so
 *   every replica of the function shares one key space (the supervisor enforces the same limits).
 */
export type StateSettings =
  | { readonly backend: 'none' }
  | {
      readonly backend: 'supervisor';
      /** A call without an answer by then fails as unavailable. */
      readonly timeoutMs: number;
      /** Checked before a value is sent over IPC; the supervisor checks again. */
      readonly maxValueBytes: number;
    }
  | {
      readonly backend: 'service';
      /** `http(s)://host:port` of the gateway's state service. */
      readonly url: string;
      /** The function's token, given directly (tests) or read from a file (a mounted Secret). */
      readonly token: string | undefined;
      readonly tokenFile: string | undefined;
      readonly timeoutMs: number;
      /** Checked before a value is sent, so a value too large is refused without the upload; the service checks again. */
      readonly maxValueBytes: number;
    };

export type StateBackend = StateSettings['backend'];

export const STATE_BACKENDS: readonly StateBackend[] = ['none', 'service', 'supervisor'];

/** The keys {@link loadStateSettings} reads (also function settings: a pool replica drops its own). */
export const STATE_SETTINGS = [
  'NIMBUS_STATE_BACKEND',
  'NIMBUS_STATE_URL',
  'NIMBUS_STATE_TOKEN',
  'NIMBUS_STATE_TOKEN_FILE',
  'NIMBUS_STATE_TIMEOUT_MS',
  'NIMBUS_STATE_MAX_VALUE_BYTES',
] as const;

const SERVICE_ONLY = ['NIMBUS_STATE_URL', 'NIMBUS_STATE_TOKEN', 'NIMBUS_STATE_TOKEN_FILE'];

export const DEFAULT_STATE_TIMEOUT_MS = 1_000;
export const DEFAULT_STATE_MAX_VALUE_BYTES = 64 * 1024;

type Env = Readonly<Record<string, string | undefined>>;

/** Reports a bad setting; the caller's error class names the key. */
export type Refuse = (key: string, message: string) => Error;

/**
 * The state settings. NIMBUS_STATE_BACKEND defaults to `service` when NIMBUS_STATE_URL is set,
 * else `none`. Tokens are never echoed in an error.
 */
export function loadStateSettings(env: Env, refuse: Refuse): StateSettings {
  const url = read(env, 'NIMBUS_STATE_URL');
  const raw = read(env, 'NIMBUS_STATE_BACKEND')?.toLowerCase();
  const backend = raw ?? (url === undefined ? 'none' : 'service');
  if (!STATE_BACKENDS.includes(backend as StateBackend)) {
    const why =
      raw === 'redis' ? ' (functions no longer connect to Redis: their state goes through the gateway)' : '';
    throw refuse(
      'NIMBUS_STATE_BACKEND',
      `NIMBUS_STATE_BACKEND must be one of ${STATE_BACKENDS.join(', ')}, got ${JSON.stringify(raw)}${why}`,
    );
  }
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
  if (backend !== 'service') {
    const stray = SERVICE_ONLY.find((key) => read(env, key) !== undefined);
    if (stray !== undefined)
      throw refuse(stray, `${stray} is set, but NIMBUS_STATE_BACKEND is ${backend}; it needs service`);
  }
  if (backend === 'none') return Object.freeze({ backend });
  if (backend === 'supervisor') return Object.freeze({ backend, timeoutMs, maxValueBytes });
  if (url === undefined)
    throw refuse('NIMBUS_STATE_URL', 'NIMBUS_STATE_URL must be set when NIMBUS_STATE_BACKEND is service');
  if (!/^https?:\/\/[^\s/@]+\/?$/.test(url))
    throw refuse(
      'NIMBUS_STATE_URL',
      'NIMBUS_STATE_URL must be an http:// or https:// base URL such as http://nimbus-gateway-state.nimbus.svc:8081',
    );
  const token = read(env, 'NIMBUS_STATE_TOKEN');
  const tokenFile = read(env, 'NIMBUS_STATE_TOKEN_FILE');
  if (token !== undefined && tokenFile !== undefined)
    throw refuse('NIMBUS_STATE_TOKEN_FILE', 'set NIMBUS_STATE_TOKEN or NIMBUS_STATE_TOKEN_FILE, not both');
  if (token === undefined && tokenFile === undefined)
    throw refuse(
      'NIMBUS_STATE_TOKEN_FILE',
      'the state service needs NIMBUS_STATE_TOKEN_FILE or NIMBUS_STATE_TOKEN',
    );
  return Object.freeze({
    backend: 'service' as const,
    url: url.replace(/\/$/, ''),
    token,
    tokenFile,
    timeoutMs,
    maxValueBytes,
  });
}

export function read(env: Env, key: string): string | undefined {
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
