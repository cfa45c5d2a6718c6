import type { FunctionResource } from '@nimbus/api';
import { type KubeClient, RESOURCES, isNotFound } from '@nimbus/kube';
import { type SecretMounts, type SecretSeen, decideSecretMounts } from './secret-opt-in.js';

/** The one call it makes: a Secret's metadata, by name. */
export type SecretMetadataClient = Pick<KubeClient, 'getMetadata'>;

/**
 * Reads the labels of each Secret a Function names (metadata only: their data never reaches the
 * controller) and decides which may be mounted. Asked on every reconcile, so a label removed
 * takes the volume away at the next one (a change of the Function, or the resync).
 */
export class FunctionSecrets {
  constructor(private readonly client: SecretMetadataClient) {}

  async check(fn: FunctionResource): Promise<SecretMounts> {
    const names = fn.spec.secrets ?? [];
    const seen = new Map<string, SecretSeen>();
    for (const name of new Set(names)) {
      try {
        const object = await this.client.getMetadata(RESOURCES.secrets, fn.metadata.namespace, name);
        seen.set(name, { labels: object.metadata.labels ?? {} });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        seen.set(name, undefined);
      }
    }
    return decideSecretMounts(names, seen);
  }
}
