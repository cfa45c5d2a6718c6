import type { Logger } from '@nimbus/api';
import {
  Informer,
  type InformerEvent,
  type KubeClient,
  type KubeObject,
  type ResourceType,
} from '@nimbus/kube';
import type { ObjectCache } from './object-cache.js';

/**
 * One informer per watched namespace (or one for the whole cluster), read as one cache:
 * a controller told to watch some namespaces needs no cluster-wide permission.
 */
export class NamespacedInformers<T extends KubeObject> implements ObjectCache<T> {
  private readonly informers: Map<string | undefined, Informer<T>>;

  constructor(
    client: KubeClient,
    resource: ResourceType,
    /** Empty: every namespace. */
    namespaces: readonly string[],
    log: Logger,
    labelSelector?: string,
  ) {
    const scopes: (string | undefined)[] = namespaces.length === 0 ? [undefined] : [...namespaces];
    this.informers = new Map(
      scopes.map((namespace) => [
        namespace,
        new Informer<T>(client, { resource, namespace, labelSelector }, log),
      ]),
    );
  }

  on(handler: (event: InformerEvent<T>) => void): this {
    for (const informer of this.informers.values()) informer.on(handler);
    return this;
  }

  get(namespace: string, name: string): T | undefined {
    const informer = this.informers.get(namespace) ?? this.informers.get(undefined);
    return informer?.get(namespace, name);
  }

  list(): T[] {
    return [...this.informers.values()].flatMap((i) => i.list());
  }

  get hasSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced);
  }

  async synced(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.synced()));
  }

  start(): void {
    for (const informer of this.informers.values()) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}
