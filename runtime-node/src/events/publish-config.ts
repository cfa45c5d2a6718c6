import { type Refuse, type StateSettings, read } from '../state/state-config.js';

/**
 * How ctx.publish reaches the events stream, from the environment:
 * - none: it rejects with a clear "not configured".
 * - service: the gateway's events endpoint (a cluster), with the function's token: the same port
 *   and token as ctx.state, so a function with state publishes with no setting of its own.
 * - supervisor: the local-mode supervisor over IPC, which publishes into local mode's bus.
 */
export type PublishSettings =
  | { readonly backend: 'none' }
  | { readonly backend: 'supervisor'; readonly timeoutMs: number }
  | ServicePublishSettings;

export interface ServicePublishSettings {
  readonly backend: 'service';
  /** `http(s)://host:port` of the gateway's internal port. */
  readonly url: string;
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly timeoutMs: number;
}

const BACKENDS = ['none', 'service', 'supervisor'] as const;

/** The keys {@link loadPublishSettings} reads (function settings: a pool replica drops its own). */
export const PUBLISH_SETTINGS = [
  'NIMBUS_EVENTS_BACKEND',
  'NIMBUS_EVENTS_URL',
  'NIMBUS_EVENTS_TOKEN',
  'NIMBUS_EVENTS_TOKEN_FILE',
  'NIMBUS_EVENTS_TIMEOUT_MS',
] as const;

export const DEFAULT_PUBLISH_TIMEOUT_MS = 2_000;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * NIMBUS_EVENTS_BACKEND defaults to `service` when NIMBUS_EVENTS_URL is set, or when ctx.state
 * goes through the state service (then its URL and token serve), else `none`. Tokens are never
 * echoed in an error.
 */
export function loadPublishSettings(env: Env, state: StateSettings, refuse: Refuse): PublishSettings {
  const url = read(env, 'NIMBUS_EVENTS_URL');
  const raw = read(env, 'NIMBUS_EVENTS_BACKEND')?.toLowerCase();
  const backend = raw ?? (url !== undefined || state.backend === 'service' ? 'service' : 'none');
  if (!(BACKENDS as readonly string[]).includes(backend))
    throw refuse(
      'NIMBUS_EVENTS_BACKEND',
      `NIMBUS_EVENTS_BACKEND must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  const rawTimeout = read(env, 'NIMBUS_EVENTS_TIMEOUT_MS');
  const timeoutMs = rawTimeout === undefined ? DEFAULT_PUBLISH_TIMEOUT_MS : Number(rawTimeout);
  if (!/^\d+$/.test(rawTimeout ?? '0') || timeoutMs < 10 || timeoutMs > 60_000)
    throw refuse(
      'NIMBUS_EVENTS_TIMEOUT_MS',
      `NIMBUS_EVENTS_TIMEOUT_MS must be an integer from 10 to 60000, got ${JSON.stringify(rawTimeout)}`,
    );
  const token = read(env, 'NIMBUS_EVENTS_TOKEN');
  const tokenFile = read(env, 'NIMBUS_EVENTS_TOKEN_FILE');
  if (backend !== 'service') {
    const stray =
      token === undefined
        ? tokenFile === undefined
          ? undefined
          : 'NIMBUS_EVENTS_TOKEN_FILE'
        : 'NIMBUS_EVENTS_TOKEN';
    if (stray !== undefined)
      throw refuse(stray, `${stray} is set, but NIMBUS_EVENTS_BACKEND is ${backend}; it needs service`);
    return Object.freeze(backend === 'none' ? { backend: 'none' } : { backend: 'supervisor', timeoutMs });
  }
  if (url === undefined) {
    if (state.backend !== 'service')
      throw refuse(
        'NIMBUS_EVENTS_URL',
        'NIMBUS_EVENTS_URL must be set when NIMBUS_EVENTS_BACKEND is service',
      );
    return Object.freeze({
      backend: 'service',
      url: state.url,
      token: state.token,
      tokenFile: state.tokenFile,
      timeoutMs,
    });
  }
  if (!/^https?:\/\/[^\s/@]+\/?$/.test(url))
    throw refuse(
      'NIMBUS_EVENTS_URL',
      'NIMBUS_EVENTS_URL must be an http:// or https:// base URL such as http://nimbus-gateway-state.nimbus.svc:8081',
    );
  if (token !== undefined && tokenFile !== undefined)
    throw refuse('NIMBUS_EVENTS_TOKEN_FILE', 'set NIMBUS_EVENTS_TOKEN or NIMBUS_EVENTS_TOKEN_FILE, not both');
  if (token === undefined && tokenFile === undefined)
    throw refuse(
      'NIMBUS_EVENTS_TOKEN_FILE',
      'the events endpoint needs NIMBUS_EVENTS_TOKEN_FILE or NIMBUS_EVENTS_TOKEN',
    );
  return Object.freeze({ backend: 'service', url: url.replace(/\/$/, ''), token, tokenFile, timeoutMs });
}
