import type { InformerEvent } from '@nimbus/kube';

/** An informer stand-in: a cache and its events, driven by the test. */
export class FakeInformer<T extends { metadata: { namespace?: string; name?: string } }> {
  private readonly items = new Map<string, T>();
  private readonly handlers: ((event: InformerEvent<T>) => void)[] = [];
  on(handler: (event: InformerEvent<T>) => void): this {
    this.handlers.push(handler);
    return this;
  }
  get(namespace: string, name: string): T | undefined {
    return this.items.get(`${namespace}/${name}`);
  }
  put(object: T): void {
    const key = `${object.metadata.namespace}/${object.metadata.name}`;
    const old = this.items.get(key);
    this.items.set(key, object);
    this.emit(old === undefined ? { type: 'added', object } : { type: 'updated', object, old });
  }
  remove(object: T): void {
    this.items.delete(`${object.metadata.namespace}/${object.metadata.name}`);
    this.emit({ type: 'deleted', object });
  }
  private emit(event: InformerEvent<T>): void {
    for (const h of this.handlers) h(event);
  }
}
