/** Counts requests being served so a drain can wait until none are left. */
export class RequestTracker {
  private active = 0;
  private waiters: (() => void)[] = [];

  get count(): number {
    return this.active;
  }

  /** Marks one request started; the returned function (idempotent) marks it done. */
  start(): () => void {
    this.active += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active -= 1;
      if (this.active === 0) this.wake();
    };
  }

  /** Resolves once no request is being served. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
