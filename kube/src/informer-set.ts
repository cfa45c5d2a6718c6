import { type Clock, type Logger, systemClock } from '@nimbus/api';
import { Informer, type InformerEvent, type ListWatchClient } from './informer.js';
import type { KubeObject, ResourceType } from './resources.js';

/**
 * One kind of object watched in every namespace, or in each of a list of namespaces (one informer
 * each, so a component whose RBAC Roles cover only those namespaces can still list and watch).
 * Reads and events look like those of a single informer.
 */
export class InformerSet<T extends KubeObject> {
  private readonly byNamespace: Map<string | undefined, Informer<T>>;

  constructor(
    client: ListWatchClient<T>,
    resource: ResourceType,
    /** Undefined or empty: every namespace. */
    namespaces: readonly string[] | undefined,
    log: Logger,
    labelSelector?: string,
    clock: Clock = systemClock,
  ) {
    const scopes: (string | undefined)[] =
      namespaces === undefined || namespaces.length === 0 ? [undefined] : [...namespaces];
    this.byNamespace = new Map(
      scopes.map((namespace) => [
        namespace,
        new Informer<T>(client, { resource, namespace, labelSelector }, log, clock),
      ]),
    );
  }

  private get informers(): Informer<T>[] {
    return [...this.byNamespace.values()];
  }

  on(handler: (event: InformerEvent<T>) => void): this {
    for (const informer of this.informers) informer.on(handler);
    return this;
  }

  get hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced);
  }

  async synced(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.synced()));
  }

  get(namespace: string, name: string): T | undefined {
    const informer = this.byNamespace.get(namespace) ?? this.byNamespace.get(undefined);
    return informer?.get(namespace, name);
  }

  list(): T[] {
    return this.informers.flatMap((i) => i.list());
  }

  start(): void {
    for (const informer of this.informers) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
