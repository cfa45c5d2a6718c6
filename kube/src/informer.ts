import type { Logger } from '@nimbus/api';
import { backoffDelay } from './backoff.js';
import { KubeApiError, isGone } from './errors.js';
import type { KubeClient, WatchEvent } from './kube-client.js';
import { type KubeObject, type ResourceType, objectKey } from './resources.js';

export type InformerEvent<T> =
  | { type: 'added'; object: T }
  | { type: 'updated'; object: T; old: T }
  | { type: 'deleted'; object: T };

export interface InformerOptions {
  resource: ResourceType;
  /** One namespace, or undefined for all of them. */
  namespace?: string;
  labelSelector?: string;
  /** Items per list page. */
  pageSize?: number;
  /** How long the server keeps one watch open before the informer opens the next. */
  watchSeconds?: number;
}

/**
 * A cache of one kind of object kept current by list-then-watch, in the manner of client-go's
 * reflector: it lists, then watches from the list's resource version; when the server says that
 * version is gone (410) it lists again and reports the differences as events; other failures
 * are retried with backoff, forever, until `stop()`. Handlers see every change once, in order.
 */
export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: ((event: InformerEvent<T>) => void)[] = [];
  private resourceVersion = '';
  private running: Promise<void> | undefined;
  private abort = new AbortController();
  private syncedOnce = false;
  private readonly syncWaiters: (() => void)[] = [];
  /** Lists done, the first included; a relist after 410 adds one. */
  lists = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly options: InformerOptions,
    private readonly log: Logger,
  ) {}

  on(handler: (event: InformerEvent<T>) => void): this {
    this.handlers.push(handler);
    return this;
  }

  get hasSynced(): boolean {
    return this.syncedOnce;
  }

  /** Resolves once the first list is in the cache. */
  synced(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  start(): void {
    if (this.running !== undefined) return;
    this.abort = new AbortController();
    this.running = this.run(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.running = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === '') await this.relist(signal);
        await this.watchOnce(signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.log.info('resource version expired; listing again', {
            resource: this.options.resource.plural,
          });
          this.resourceVersion = '';
          continue;
        }
        failures++;
        const delay = backoffDelay(failures, 200, 30_000);
        this.log.warn('list or watch failed; retrying', {
          resource: this.options.resource.plural,
          attempt: failures,
          delayMs: delay,
          err,
        });
        await abortableDelay(delay, signal);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let token: string | undefined;
    let version = '';
    do {
      const page = await this.client.list<T>(this.options.resource, {
        namespace: this.options.namespace,
        labelSelector: this.options.labelSelector,
        limit: this.options.pageSize ?? 500,
        continue: token,
      });
      if (signal.aborted) return;
      items.push(...page.items);
      token = page.metadata.continue || undefined;
      version = page.metadata.resourceVersion ?? '';
    } while (token !== undefined);
    this.replace(items);
    this.resourceVersion = version;
    this.lists++;
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const wake of this.syncWaiters.splice(0)) wake();
    }
  }

  /** Swaps the cache for a fresh list, reporting what was added, changed and removed meanwhile. */
  private replace(items: T[]): void {
    const fresh = new Map(items.map((item) => [objectKey(item), item]));
    for (const [key, old] of this.store) {
      if (!fresh.has(key)) {
        this.store.delete(key);
        this.emit({ type: 'deleted', object: old });
      }
    }
    for (const [key, item] of fresh) this.upsert(key, item);
  }

  private upsert(key: string, item: T): void {
    const old = this.store.get(key);
    this.store.set(key, item);
    if (old === undefined) this.emit({ type: 'added', object: item });
    else if (old.metadata.resourceVersion !== item.metadata.resourceVersion)
      this.emit({ type: 'updated', object: item, old });
  }

  private async watchOnce(signal: AbortSignal): Promise<void> {
    const watchSeconds = this.options.watchSeconds ?? 300 + Math.floor(Math.random() * 300);
    let refusal: KubeApiError | undefined;
    await this.client.watch<T>(
      this.options.resource,
      {
        namespace: this.options.namespace,
        labelSelector: this.options.labelSelector,
        resourceVersion: this.resourceVersion,
        timeoutSeconds: watchSeconds,
        signal,
      },
      (event: WatchEvent<T>) => {
        if (event.type === 'ERROR') {
          // A Status object: most often 410, the version is older than the server keeps.
          const status = event.object as unknown as { code?: number; reason?: string; message?: string };
          refusal = new KubeApiError(
            status.code ?? 500,
            status.reason ?? 'WatchError',
            status.message ?? 'watch error',
          );
          return;
        }
        const version = event.object.metadata?.resourceVersion;
        if (event.type !== 'BOOKMARK') {
          const key = objectKey(event.object);
          if (event.type === 'DELETED') {
            const old = this.store.get(key);
            this.store.delete(key);
            if (old !== undefined) this.emit({ type: 'deleted', object: event.object });
          } else {
            this.upsert(key, event.object);
          }
        }
        if (version) this.resourceVersion = version;
      },
    );
    if (refusal !== undefined) throw refusal;
  }

  private emit(event: InformerEvent<T>): void {
    for (const handler of this.handlers) {
      try {
        handler(event);
      } catch (err) {
        this.log.error('informer handler threw', { resource: this.options.resource.plural, err });
      }
    }
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
