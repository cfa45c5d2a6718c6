import type { ResolvedSource } from '@nimbus/api';
import { S3_CREDENTIAL_KEYS, type SecretReader, SourceConfigError, secretRefsOf } from '@nimbus/sources';

/**
 * Why a trigger cannot be set up as it is configured: a Secret not given, a URL that does not
 * parse, a login its server refuses. Retrying will not help until the configuration changes, so
 * status says so rather than "disconnected".
 */
export interface SetupFailure {
  readonly reason: 'TriggerSecretNotFound' | 'TriggerSecretKeyMissing' | 'TriggerMisconfigured';
  readonly message: string;
}

/** A key of a trigger's Secret that is not given; whether the Secret itself is (some key of it). */
export class SecretNotGivenError extends SourceConfigError {
  constructor(
    field: string,
    message: string,
    readonly secretGiven: boolean,
  ) {
    super(field, message);
    this.name = 'SecretNotGivenError';
  }
}

/**
 * A failure to start a trigger as its status says it, in the reasons and words a cluster's
 * controller uses for the same fault (controller/src/sources: trigger-secrets.ts for a Secret,
 * source-reconciler.ts for the rest), so a Function reads the same on a laptop and in a cluster.
 * Undefined for a failure that may pass (a server out of reach): that one is a disconnected reader.
 * Pure.
 */
export function setupFailureOf(source: ResolvedSource, err: unknown): SetupFailure | undefined {
  if (err instanceof SecretNotGivenError)
    return {
      reason: err.secretGiven ? 'TriggerSecretKeyMissing' : 'TriggerSecretNotFound',
      message: `spec.triggers[${source.name}].${source.kind}: ${err.message}`,
    };
  if (err instanceof SourceConfigError)
    return { reason: 'TriggerMisconfigured', message: `spec.triggers[${source.name}]: ${err.message}` };
  return undefined;
}

/** Keys a trigger may name without their being there (as the controller has it). */
const OPTIONAL: ReadonlySet<string> = new Set<string>([S3_CREDENTIAL_KEYS[2]]);

/**
 * Reads every key the trigger's spec names before anything is set up, as the controller does
 * first in a cluster: a key not given is said as a Secret fault, not as whatever the kind made of
 * it half-way through connecting.
 */
export async function requireSecrets(source: ResolvedSource, reader: SecretReader): Promise<void> {
  for (const ref of secretRefsOf(source.spec as unknown as Record<string, unknown>)) {
    try {
      await reader.read(ref);
    } catch (err) {
      if (err instanceof SourceConfigError && OPTIONAL.has(ref.key)) continue;
      throw err;
    }
  }
}
