import type { Container, EnvVar, Volume } from './objects.js';
import { STATE_SECRET_KEYS } from './state-secret.js';

/**
 * What a function's pods need to reach the gateway's internal port with the function's token:
 * ctx.publish for every function on a Nimbus runtime, and ctx.state for one with state.
 */
export interface StateBinding {
  /** spec.state.enabled: ctx.state goes to the state service too (else only ctx.publish uses the token). */
  state: boolean;
  /** The state service's base URL (the gateway's internal port), e.g. http://nimbus-gateway-state.nimbus.svc:8081. */
  serviceUrl: string;
  /** The Secret with the function's token. */
  secretName: string;
  /**
   * Changes when the token does (a digest, never the token): it goes into the pod template, so
   * pods roll onto a new token (after the state key is rotated) instead of failing with the old one.
   */
  credentialsRevision: string;
  maxValueBytes: number;
}

export const STATE_CREDENTIALS_ANNOTATION = 'nimbus.dev/state-credentials';
const STATE_DIR = '/var/nimbus/state';

/**
 * The runtime's NIMBUS_EVENTS_* settings, and NIMBUS_STATE_* for a function with state; the token
 * is read from the mounted Secret. No Redis URL or login, no NATS user.
 */
export function stateEnv(binding: StateBinding): EnvVar[] {
  const events = [
    { name: 'NIMBUS_EVENTS_URL', value: binding.serviceUrl },
    { name: 'NIMBUS_EVENTS_TOKEN_FILE', value: `${STATE_DIR}/${STATE_SECRET_KEYS.token}` },
  ];
  if (!binding.state) return events;
  return [
    ...events,
    { name: 'NIMBUS_STATE_BACKEND', value: 'service' },
    { name: 'NIMBUS_STATE_URL', value: binding.serviceUrl },
    { name: 'NIMBUS_STATE_TOKEN_FILE', value: `${STATE_DIR}/${STATE_SECRET_KEYS.token}` },
    { name: 'NIMBUS_STATE_MAX_VALUE_BYTES', value: String(binding.maxValueBytes) },
  ];
}

/** The token alone, as a file: the handler's env stays free of it. */
export function stateVolume(binding: StateBinding): Volume {
  return {
    name: 'state-credentials',
    secret: {
      secretName: binding.secretName,
      items: [{ key: STATE_SECRET_KEYS.token, path: STATE_SECRET_KEYS.token }],
    },
  };
}

export function stateMount(): Container['volumeMounts'][number] {
  return { name: 'state-credentials', mountPath: STATE_DIR, readOnly: true };
}
