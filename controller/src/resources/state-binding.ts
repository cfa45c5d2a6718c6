import type { Container, EnvVar, Volume } from './objects.js';
import { STATE_SECRET_KEYS } from './state-secret.js';

/** What a function's pods need to reach its Redis key space as its own user. */
export interface StateBinding {
  /** The URL pods connect to, without credentials. */
  redisUrl: string;
  /** The function's Redis ACL user. */
  username: string;
  /** The Secret with the user's password. */
  secretName: string;
  /**
   * Changes when the password does (a digest, never the password): it goes into the pod template,
   * so pods roll onto a new password instead of failing their login with the old one.
   */
  credentialsRevision: string;
  maxValueBytes: number;
}

export const STATE_CREDENTIALS_ANNOTATION = 'nimbus.dev/state-credentials';
const STATE_DIR = '/var/nimbus/state';

/** runtime-node's NIMBUS_STATE_* settings; the password is read from the mounted Secret. */
export function stateEnv(binding: StateBinding): EnvVar[] {
  return [
    { name: 'NIMBUS_STATE_BACKEND', value: 'redis' },
    { name: 'NIMBUS_STATE_REDIS_URL', value: binding.redisUrl },
    { name: 'NIMBUS_STATE_REDIS_USERNAME', value: binding.username },
    { name: 'NIMBUS_STATE_REDIS_PASSWORD_FILE', value: `${STATE_DIR}/${STATE_SECRET_KEYS.password}` },
    { name: 'NIMBUS_STATE_MAX_VALUE_BYTES', value: String(binding.maxValueBytes) },
  ];
}

/** The password alone, as a file: the username is no secret, and the handler's env stays free of it. */
export function stateVolume(binding: StateBinding): Volume {
  return {
    name: 'state-credentials',
    secret: {
      secretName: binding.secretName,
      items: [{ key: STATE_SECRET_KEYS.password, path: STATE_SECRET_KEYS.password }],
    },
  };
}

export function stateMount(): Container['volumeMounts'][number] {
  return { name: 'state-credentials', mountPath: STATE_DIR, readOnly: true };
}
