import type { ResolvedSource, SecretKeyRef } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, isNotFound } from '@nimbus/kube';
import { S3_CREDENTIAL_KEYS, TRIGGER_SECRET_LABEL, mirroredKey, secretRefsOf } from '@nimbus/sources';

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** A source trigger whose Secret cannot be used, with the field and why. */
export interface SecretProblem {
  readonly trigger: string;
  readonly field: string;
  readonly reason: 'TriggerSecretNotFound' | 'TriggerSecretNotOptedIn' | 'TriggerSecretKeyMissing';
  readonly message: string;
}

export interface TriggerSecretValues {
  /** `<secret>.<key>` to value, for every key the triggers name that could be read. */
  readonly values: Map<string, string>;
  readonly problems: SecretProblem[];
  /** Each Secret named, by name: its resourceVersion as read, undefined when there was none. */
  readonly versions: Map<string, string | undefined>;
}

/** Keys a trigger may name without their being there. */
const OPTIONAL: ReadonlySet<string> = new Set<string>([S3_CREDENTIAL_KEYS[2]]);

/**
 * Reads the keys a Function's source triggers name from Secrets of its namespace that opt in
 * (label nimbus.dev/trigger-secret: "true"). A Secret that does not opt in is not read past its
 * labels: its data is never copied anywhere.
 */
export async function readTriggerSecrets(
  client: Pick<KubeClient, 'get' | 'getMetadata'>,
  namespace: string,
  sources: readonly ResolvedSource[],
): Promise<TriggerSecretValues> {
  const values = new Map<string, string>();
  const problems: SecretProblem[] = [];
  const secrets = new Map<string, Secret | undefined>();
  for (const source of sources) {
    const field = `spec.triggers[${source.name}].${source.kind}`;
    for (const ref of secretRefsOf(source.spec as unknown as Record<string, unknown>)) {
      if (!secrets.has(ref.name)) secrets.set(ref.name, await getSecret(client, namespace, ref.name));
      const secret = secrets.get(ref.name);
      const problem = checkSecret(secret, ref, source.name, field);
      if (problem === 'absent') continue;
      if (problem !== undefined) {
        if (!problems.some((p) => p.trigger === problem.trigger && p.message === problem.message))
          problems.push(problem);
        continue;
      }
      const encoded = secret?.data?.[ref.key];
      if (encoded !== undefined)
        values.set(mirroredKey(ref), Buffer.from(encoded, 'base64').toString('utf8'));
    }
  }
  const versions = new Map([...secrets].map(([name, secret]) => [name, secret?.metadata.resourceVersion]));
  return { values, problems, versions };
}

/** Its labels first; its data only when it opts in, so a Secret that does not never reaches this process. */
async function getSecret(
  client: Pick<KubeClient, 'get' | 'getMetadata'>,
  namespace: string,
  name: string,
): Promise<Secret | undefined> {
  try {
    const meta = await client.getMetadata(RESOURCES.secrets, namespace, name);
    if (meta.metadata.labels?.[TRIGGER_SECRET_LABEL] !== 'true') return { metadata: meta.metadata };
    return await client.get<Secret>(RESOURCES.secrets, namespace, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function checkSecret(
  secret: Secret | undefined,
  ref: SecretKeyRef,
  trigger: string,
  field: string,
): SecretProblem | 'absent' | undefined {
  if (secret === undefined)
    return {
      trigger,
      field,
      reason: 'TriggerSecretNotFound',
      message: `${field}: no Secret ${ref.name} in the Function's namespace`,
    };
  if (secret.metadata.labels?.[TRIGGER_SECRET_LABEL] !== 'true')
    return {
      trigger,
      field,
      reason: 'TriggerSecretNotOptedIn',
      message: `${field}: Secret ${ref.name} does not opt in (label ${TRIGGER_SECRET_LABEL}: "true"), so it is not used`,
    };
  if (secret.data?.[ref.key] === undefined) {
    if (OPTIONAL.has(ref.key)) return 'absent';
    return {
      trigger,
      field,
      reason: 'TriggerSecretKeyMissing',
      message: `${field}: Secret ${ref.name} has no key ${ref.key}`,
    };
  }
  return undefined;
}
