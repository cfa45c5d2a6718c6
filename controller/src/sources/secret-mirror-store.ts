import type { ResolvedSource } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, isNotFound } from '@nimbus/kube';
import { TRIGGER_SECRET_MIRROR_LABEL, triggerSecretMirrorName } from '@nimbus/sources';
import { FIELD_MANAGER } from '../reconcile/function-reconciler.js';

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** What the copy holds besides secret values: the triggers made on their origins, to remove when they go. */
const PROVISIONED_KEY = '_provisioned';

/** The controller's copy of one Function's trigger Secrets, beside the gateway. */
export interface Mirror {
  readonly values: ReadonlyMap<string, string>;
  /** The source triggers whose origins were (or may have been) changed for this Function. */
  readonly provisioned: readonly ResolvedSource[];
}

/**
 * Reads and writes the copies (see @nimbus/sources secret-mirror) in the platform's namespace.
 * The copy also records which triggers were provisioned, with their specs (no secret values), so
 * a trigger removed from the spec, or a Function deleted, can be undone on its origin later.
 */
export class SecretMirrorStore {
  constructor(
    private readonly client: Pick<KubeClient, 'get' | 'apply' | 'delete'>,
    private readonly namespace: string,
  ) {}

  async read(namespace: string, fn: string): Promise<Mirror | undefined> {
    let secret: Secret;
    try {
      secret = await this.client.get<Secret>(
        RESOURCES.secrets,
        this.namespace,
        triggerSecretMirrorName(namespace, fn),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const values = new Map<string, string>();
    let provisioned: ResolvedSource[] = [];
    for (const [key, encoded] of Object.entries(secret.data ?? {})) {
      const value = Buffer.from(encoded, 'base64').toString('utf8');
      if (key !== PROVISIONED_KEY) values.set(key, value);
      else {
        try {
          provisioned = JSON.parse(value) as ResolvedSource[];
        } catch {
          provisioned = [];
        }
      }
    }
    return { values, provisioned };
  }

  async write(namespace: string, fn: string, mirror: Mirror): Promise<void> {
    const data: Record<string, string> = {};
    for (const [key, value] of mirror.values) data[key] = Buffer.from(value).toString('base64');
    data[PROVISIONED_KEY] = Buffer.from(JSON.stringify(mirror.provisioned)).toString('base64');
    await this.client.apply(
      RESOURCES.secrets,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: triggerSecretMirrorName(namespace, fn),
          namespace: this.namespace,
          labels: {
            [TRIGGER_SECRET_MIRROR_LABEL]: 'true',
            'app.kubernetes.io/managed-by': 'nimbus-controller',
          },
          annotations: { 'nimbus.dev/function': `${namespace}/${fn}` },
        },
        type: 'Opaque',
        data,
      } as KubeObject,
      FIELD_MANAGER,
    );
  }

  async remove(namespace: string, fn: string): Promise<void> {
    await this.client
      .delete(RESOURCES.secrets, this.namespace, triggerSecretMirrorName(namespace, fn))
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  }
}
