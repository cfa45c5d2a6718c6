import { type Backoff, type Clock, type Logger, backoffDelay, sleep, systemClock } from '@nimbus/api';
import { KubeApiError, isGone } from './errors.js';
import type { ListOptions, WatchEvent, WatchOptions } from './kube-client.js';
import { type KubeList, type KubeObject, type ResourceType, objectKey } from './resources.js';

/** What an informer asks of the API server: KubeClient is one, a test's in-memory fake another. */
export interface ListWatchClient<T> {
  /** One page of a list; `continue` in the result's metadata asks for the next. */
  list(resource: ResourceType, options: ListOptions): Promise<KubeList<T>>;
  /** Resolves when the watch ends or the signal aborts; rejects when it is refused or breaks. */
  watch(
    resource: ResourceType,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void>;
}

/**
 * Waits before retrying a failed list or watch. Equal jitter: no wait is under half its step, and
 * informers that failed together (an API server restart) do not all come back at once.
 */
const RETRY_BACKOFF: Backoff = { baseMs: 200, maxMs: 30_000, jitter: 'equal' };

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
    private readonly client: ListWatchClient<T>,
    private readonly options: InformerOptions,
    private readonly log: Logger,
    /** Times the retry waits; a test steps a ManualClock. */
    private readonly clock: Clock = systemClock,
    /** In [0, 1): jitters the retry waits and the default watch length. */
    private readonly random: () => number = Math.random,
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
        const delay = backoffDelay(RETRY_BACKOFF, failures, this.random);
        this.log.warn('list or watch failed; retrying', {
          resource: this.options.resource.plural,
          attempt: failures,
          delayMs: delay,
          err,
        });
        await sleep(this.clock, delay, signal);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let token: string | undefined;
    let version = '';
    do {
      const page = await this.client.list(this.options.resource, {
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
    // Server-side apply's bookkeeping is often the larger part of an object, and nothing that
    // reads a cache uses it: left out, a controller of thousands of Functions keeps tens of MiB less.
    const metadata = item.metadata as { managedFields?: unknown };
    if (metadata.managedFields !== undefined) metadata.managedFields = undefined;
    const old = this.store.get(key);
    this.store.set(key, item);
    if (old === undefined) this.emit({ type: 'added', object: item });
    else if (old.metadata.resourceVersion !== item.metadata.resourceVersion)
      this.emit({ type: 'updated', object: item, old });
  }

  private async watchOnce(signal: AbortSignal): Promise<void> {
    const watchSeconds = this.options.watchSeconds ?? 300 + Math.floor(this.random() * 300);
    let refusal: KubeApiError | undefined;
    await this.client.watch(
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
