import { createHash } from 'node:crypto';
import type { SecretKeyRef } from '@nimbus/api';
import { type SecretReader, SourceConfigError } from './source.js';

/**
 * In a cluster the gateway reads no Secret of a Function's namespace: the controller, which may,
 * copies the keys a Function's source triggers name, from Secrets that opt in, into one Secret
 * of its own beside the gateway (the release namespace), and the gateway reads that one only.
 * A Secret that does not opt in is never copied, so whoever may write a Function cannot have the
 * platform read (and send to an origin of their choosing) a Secret its owner did not offer.
 */

/** The label a Secret carries to offer its keys to source triggers. */
export const TRIGGER_SECRET_LABEL = 'nimbus.dev/trigger-secret';
/** The label on the controller's copies (value "true"; the Function is in an annotation). */
export const TRIGGER_SECRET_MIRROR_LABEL = 'nimbus.dev/trigger-secrets';

/** The copy's name for one Function: `nimbus-trigger-<digest of namespace/name>`. */
export function triggerSecretMirrorName(namespace: string, fn: string): string {
  return `nimbus-trigger-${createHash('sha256').update(`${namespace}/${fn}`).digest('hex').slice(0, 20)}`;
}

/** The key in the copy that holds `ref`: `<secret>.<key>` (both are names Kubernetes keys allow, with no `/`). */
export function mirroredKey(ref: SecretKeyRef): string {
  return `${ref.name}.${ref.key}`;
}

/** Every Secret key the source triggers of a Function name: what the copy holds. */
export function secretRefsOf(spec: Readonly<Record<string, unknown>>): SecretKeyRef[] {
  const refs: SecretKeyRef[] = [];
  const add = (value: unknown) => {
    const ref = value as Partial<SecretKeyRef> | undefined;
    if (typeof ref?.name === 'string' && typeof ref.key === 'string')
      refs.push({ name: ref.name, key: ref.key });
  };
  add(spec.connection);
  add(spec.secret);
  add(spec.notifyToken);
  const credentials = spec.credentials as { secret?: unknown } | undefined;
  if (typeof credentials?.secret === 'string')
    for (const key of S3_CREDENTIAL_KEYS) refs.push({ name: credentials.secret, key });
  return refs;
}

/** The keys an S3 trigger's credentials Secret holds (sessionToken optional). */
export const S3_CREDENTIAL_KEYS = ['accessKeyId', 'secretAccessKey', 'sessionToken'] as const;

/** A SecretReader over a map of `<secret>.<key>` to values (the copy's data, or local mode's). */
export function mapSecretReader(
  values: () => Promise<ReadonlyMap<string, string> | undefined>,
): SecretReader {
  return {
    async read(ref) {
      const value = (await values())?.get(mirroredKey(ref));
      if (value === undefined)
        throw new SourceConfigError(
          `secret ${ref.name}`,
          `Secret ${ref.name} key ${ref.key} is not available: it must exist in the Function's namespace with the label ${TRIGGER_SECRET_LABEL}: "true"`,
        );
      return value;
    },
  };
}
