import { randomBytes } from 'node:crypto';
import { POOL_KEY_BYTES } from '@nimbus/api/pool-token';
import { type KubeClient, type KubeObject, RESOURCES, isAlreadyExists, isNotFound } from '@nimbus/kube';
import { POOL_KEY_ITEM, POOL_KEY_SECRET, buildPoolKeySecret } from '../resources/pool.js';

export type PoolKeyClient = Pick<KubeClient, 'get' | 'create' | 'delete'>;

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

/** Shorter than this, a Secret's key was not written by Nimbus: it is replaced. */
const MIN_KEY_BYTES = 16;

/**
 * Each pool namespace's pool key, from which every pool pod's token is derived
 * (derivePoolToken). It lives in the Secret `nimbus-pool-key` there, made once with random bytes
 * and read back, so a controller restart or a new leader derives the same tokens as the pods
 * already running. The reconciler makes sure of it before the pool's pods need it; a wake reads
 * the cached copy, so taking a pod over costs no API request for it.
 */
export class PoolKeys {
  private readonly keys = new Map<string, Buffer>();

  constructor(
    private readonly client: PoolKeyClient,
    private readonly newKey: () => Buffer = () => randomBytes(POOL_KEY_BYTES),
  ) {}

  /**
   * The namespace's key: read from its Secret, or written there; the reconciler's step. The
   * cached key is trusted unless `recheck` (the pool is not all ready: a Secret deleted by hand
   * would hold its pods back), so a reconcile of a healthy pool costs no request.
   */
  async ensure(namespace: string, recheck: boolean): Promise<Buffer> {
    const cached = this.keys.get(namespace);
    if (cached !== undefined && !recheck) return cached;
    const kept = await this.read(namespace);
    if (kept !== undefined) return kept;
    const key = this.newKey();
    try {
      await this.client.create(
        RESOURCES.secrets,
        buildPoolKeySecret(namespace, key) as unknown as KubeObject,
      );
    } catch (err) {
      // Written meanwhile (a previous leader), or unusable: what the server holds now decides.
      if (!isAlreadyExists(err)) throw err;
      const written = await this.read(namespace);
      if (written === undefined)
        throw new Error(`Secret ${namespace}/${POOL_KEY_SECRET} holds no usable key`, { cause: err });
      return written;
    }
    this.keys.set(namespace, key);
    return key;
  }

  /** The key for a wake: the cached one, else read from the Secret; undefined when there is none. */
  async get(namespace: string): Promise<Buffer | undefined> {
    return this.keys.get(namespace) ?? this.read(namespace);
  }

  /** A pod refused the token derived from the cached key: read it again next time. */
  forget(namespace: string): void {
    this.keys.delete(namespace);
  }

  /** The pool is gone from the namespace: so is its key. */
  async remove(namespace: string): Promise<void> {
    this.keys.delete(namespace);
    await this.client
      .delete(RESOURCES.secrets, namespace, POOL_KEY_SECRET)
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  }

  private async read(namespace: string): Promise<Buffer | undefined> {
    let secret: SecretObject;
    try {
      secret = await this.client.get<SecretObject>(RESOURCES.secrets, namespace, POOL_KEY_SECRET);
    } catch (err) {
      if (isNotFound(err)) {
        this.keys.delete(namespace);
        return undefined;
      }
      throw err;
    }
    const encoded = secret.data?.[POOL_KEY_ITEM];
    const key = encoded === undefined ? undefined : Buffer.from(encoded, 'base64');
    if (key === undefined || key.length < MIN_KEY_BYTES) {
      throw new Error(
        `Secret ${namespace}/${POOL_KEY_SECRET} has no ${POOL_KEY_ITEM} of at least ${MIN_KEY_BYTES} bytes; delete it and Nimbus makes a new one`,
      );
    }
    this.keys.set(namespace, key);
    return key;
  }
}
