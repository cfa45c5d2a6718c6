/**
 * Which of a Function's spec.secrets its pods may mount. Whoever may write a Function (an admin
 * key, through the gateway's /system/functions) could otherwise name any Secret in the namespace
 * and read it from the function's code: a Secret is mounted only when its owner opted in with
 * the label below. A label rather than an annotation listing functions: the namespace is already
 * the boundary, and a label can be audited (and granted) with a selector, as
 * `kubectl get secrets -l nimbus.dev/function-secret=true` shows what functions may read. Pure.
 */

export const FUNCTION_SECRET_LABEL = 'nimbus.dev/function-secret';

/** The condition that says whether every Secret in spec.secrets is mounted. */
export const SECRETS_CONDITION = 'SecretsMounted';

/** What the API server said of one named Secret: its labels, or undefined when there is none. */
export type SecretSeen = { labels: Readonly<Record<string, string>> } | undefined;

export interface SecretRefusal {
  /** `spec.secrets[i]`. */
  field: string;
  name: string;
  reason: 'SecretNotOptedIn' | 'SecretNotFound';
  message: string;
}

export interface SecretMounts {
  /** The Secrets to mount, in spec order. */
  mounted: string[];
  refused: SecretRefusal[];
}

export function decideSecretMounts(
  names: readonly string[],
  seen: ReadonlyMap<string, SecretSeen>,
): SecretMounts {
  const mounted: string[] = [];
  const refused: SecretRefusal[] = [];
  for (const [i, name] of names.entries()) {
    const field = `spec.secrets[${i}]`;
    const secret = seen.get(name);
    if (secret === undefined) {
      refused.push({
        field,
        name,
        reason: 'SecretNotFound',
        message: `${field}: no Secret ${name} in the Function's namespace, so it is not mounted`,
      });
    } else if (secret.labels[FUNCTION_SECRET_LABEL] !== 'true') {
      refused.push({
        field,
        name,
        reason: 'SecretNotOptedIn',
        message: `${field}: Secret ${name} does not opt in (label ${FUNCTION_SECRET_LABEL}: "true"), so it is not mounted`,
      });
    } else {
      mounted.push(name);
    }
  }
  return { mounted, refused };
}

type Verdict = { status: 'True' | 'False'; reason: string; message: string };

/** The SecretsMounted condition; undefined for a Function that names no Secret. Pure. */
export function secretsVerdict(names: readonly string[], mounts: SecretMounts): Verdict | undefined {
  if (names.length === 0) return undefined;
  const [first] = mounts.refused;
  if (first === undefined)
    return { status: 'True', reason: 'Mounted', message: `${names.length} Secret(s) mounted` };
  return {
    status: 'False',
    reason: mounts.refused.every((r) => r.reason === first.reason) ? first.reason : 'SecretsRefused',
    message: mounts.refused.map((r) => r.message).join('; '),
  };
}
