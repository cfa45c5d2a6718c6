/**
 * The QoS 1 messages of one connection whose stores are under way, in the order they came. Stores
 * overlap, but PUBACKs leave in arrival order (MQTT 5, 4.6: a client acknowledges QoS 1 messages in
 * the order it received them): a message is acknowledged once it and every message before it are
 * stored. After a store fails nothing more is acknowledged on the connection: the owner drops it,
 * and the broker gives the failed message, and those after it, again to the next one (stored twice,
 * they have the same id, and JetStream keeps one).
 */
export class AckWindow {
  private readonly queue: { readonly messageId: number; stored: boolean }[] = [];
  private failed = false;
  private readonly waiting: { readonly limit: number; readonly resolve: () => void }[] = [];

  constructor(
    private readonly acknowledge: (messageId: number) => void,
    /** Called once, on the first store that fails. */
    private readonly onFailure: (err: unknown) => void,
  ) {}

  /** Messages taken and not acknowledged yet. */
  get size(): number {
    return this.queue.length;
  }

  /** Takes a message whose store is under way; the promise settles once the store did (never rejects). */
  track(messageId: number, store: Promise<void>): Promise<void> {
    const entry = { messageId, stored: false };
    this.queue.push(entry);
    return store.then(
      () => {
        entry.stored = true;
        this.flush();
      },
      (err: unknown) => {
        if (this.failed) return;
        this.failed = true;
        this.onFailure(err);
      },
    );
  }

  /**
   * Undefined while fewer than `limit` messages are unacknowledged; else a promise that resolves
   * once they are (never, after a failed store: the connection is being dropped).
   */
  room(limit: number): Promise<void> | undefined {
    if (this.queue.length < limit) return undefined;
    return new Promise((resolve) => this.waiting.push({ limit, resolve }));
  }

  private flush(): void {
    if (this.failed) return;
    while (this.queue[0]?.stored === true) {
      const head = this.queue.shift();
      if (head !== undefined) this.acknowledge(head.messageId);
    }
    if (this.waiting.length === 0) return;
    for (const waiter of this.waiting.filter((w) => this.queue.length < w.limit)) {
      this.waiting.splice(this.waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  }
}
