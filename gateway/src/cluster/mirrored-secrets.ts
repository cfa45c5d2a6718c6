import { type KubeClient, type KubeObject, RESOURCES } from '@nimbus/kube';
import { KubeApiError } from '@nimbus/kube/errors';
import {
  type SecretReader,
  SourceConfigError,
  mapSecretReader,
  triggerSecretMirrorName,
} from '@nimbus/sources';
import type { TriggerSecrets } from '../sources/source-runner.js';

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** How long a copy read is used before it is read again: how soon a rotated credential is seen. */
const FRESH_MS = 10_000;

/**
 * The source triggers' Secrets in a cluster: the controller's copy for each Function, in the
 * gateway's own namespace (see @nimbus/sources secret-mirror), read by name and kept briefly. The
 * gateway needs `get` on Secrets of its own namespace only, never of a Function's.
 */
export class MirroredTriggerSecrets implements TriggerSecrets {
  private readonly cache = new Map<
    string,
    { at: number; values: Promise<ReadonlyMap<string, string> | undefined> }
  >();

  constructor(
    private readonly client: Pick<KubeClient, 'get'>,
    private readonly namespace: string | undefined,
    private readonly now: () => number,
  ) {}

  reader(namespace: string, fn: string): SecretReader {
    if (this.namespace === undefined)
      return {
        read: () =>
          Promise.reject(
            new SourceConfigError(
              'secret',
              'the gateway does not know its namespace (POD_NAMESPACE), where the Secrets of source triggers are copied',
            ),
          ),
      };
    return mapSecretReader(() => this.values(triggerSecretMirrorName(namespace, fn)));
  }

  private values(name: string): Promise<ReadonlyMap<string, string> | undefined> {
    const cached = this.cache.get(name);
    if (cached !== undefined && this.now() - cached.at < FRESH_MS) return cached.values;
    const values = this.read(name);
    this.cache.set(name, { at: this.now(), values });
    // A failed read is not kept: the next asks again.
    values.catch(() => this.cache.delete(name));
    return values;
  }

  private async read(name: string): Promise<ReadonlyMap<string, string> | undefined> {
    try {
      const secret = await this.client.get<Secret>(RESOURCES.secrets, this.namespace, name);
      return new Map(
        Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return undefined;
      throw err;
    }
  }
}
