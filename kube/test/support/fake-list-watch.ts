import type { ListWatchClient } from '../../src/informer.js';
import type { ListOptions, WatchEvent, WatchOptions } from '../../src/kube-client.js';
import type { KubeList, KubeObject, ResourceType } from '../../src/resources.js';

/**
 * The informer's side of the API server, in memory and scripted by the test: each list call takes
 * the next queued page or error (and waits for one when none is queued, as a slow server would);
 * each watch call opens a stream the test feeds, ends or breaks. Every call is recorded.
 */
export class FakeListWatch<T extends KubeObject> implements ListWatchClient<T> {
  readonly listCalls: ListOptions[] = [];
  readonly watches: FakeWatch<T>[] = [];
  private readonly replies: (KubeList<T> | Error)[] = [];
  private wake: (() => void) | undefined;

  /** Queues answers to the next list calls, in order: pages, or errors to reject with. */
  reply(...replies: (KubeList<T> | Error)[]): this {
    this.replies.push(...replies);
    this.wake?.();
    return this;
  }

  /** The watch opened last; throws when there is none. */
  get open(): FakeWatch<T> {
    const last = this.watches.at(-1);
    if (last === undefined) throw new Error('no watch has been opened');
    return last;
  }

  async list(_resource: ResourceType, options: ListOptions): Promise<KubeList<T>> {
    this.listCalls.push(options);
    while (this.replies.length === 0) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    const next = this.replies.shift() as KubeList<T> | Error;
    if (next instanceof Error) throw next;
    return next;
  }

  watch(
    _resource: ResourceType,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void> {
    const stream = new FakeWatch(options, onEvent);
    this.watches.push(stream);
    return stream.done;
  }
}

/** One watch stream. Like KubeClient's, it ends quietly when its signal aborts. */
export class FakeWatch<T> {
  readonly done: Promise<void>;
  private finish: (err?: Error) => void = () => {};
  private ended = false;

  constructor(
    readonly options: WatchOptions,
    private readonly onEvent: (event: WatchEvent<T>) => void,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.finish = (err) => {
        if (this.ended) return;
        this.ended = true;
        if (err === undefined) resolve();
        else reject(err);
      };
    });
    if (options.signal.aborted) this.finish();
    else options.signal.addEventListener('abort', () => this.finish(), { once: true });
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /** Delivers events in order, as lines of the stream. */
  send(...events: WatchEvent<T>[]): this {
    if (this.ended) throw new Error('send on a watch that has ended');
    for (const event of events) this.onEvent(event);
    return this;
  }

  /** The server closes the stream (its timeoutSeconds ran out). */
  end(): void {
    this.finish();
  }

  /** The watch is refused or breaks: the watch call rejects with `err`. */
  fail(err: Error): void {
    this.finish(err);
  }
}

/** A list cut into pages of `size`, each naming the next with a continue token `page-N`. */
export function pages<T>(
  items: T[],
  size: number,
  resourceVersions: string[],
): [KubeList<T>, ...KubeList<T>[]] {
  const count = Math.max(1, Math.ceil(items.length / size));
  const list = Array.from({ length: count }, (_, i) => ({
    metadata: {
      resourceVersion: resourceVersions[i] ?? resourceVersions.at(-1),
      ...(i + 1 < count ? { continue: `page-${i + 2}` } : {}),
    },
    items: items.slice(i * size, (i + 1) * size),
  }));
  return list as [KubeList<T>, ...KubeList<T>[]];
}
