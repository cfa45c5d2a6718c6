/**
 * Why one invocation should stop (its deadline passed, its client left) and whom to tell. Used
 * instead of an AbortController per request, which costs Node 20 an EventTarget, a listener
 * registry and several allocations whether or not anything ever aborts. The AbortSignal a handler
 * sees (`ctx.signal`) is only made when it asks for one.
 */
export class Cancellation {
  private abortReason: unknown = undefined;
  private isAborted = false;
  // Most invocations have at most one listener at a time, so a small array beats a Set.
  private listeners: (() => void)[] | undefined;
  private controller: AbortController | undefined;

  get aborted(): boolean {
    return this.isAborted;
  }

  get reason(): unknown {
    return this.abortReason;
  }

  /** Follows this cancellation, aborting with the same reason; already aborted if it has. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Only the first call counts; later reasons are ignored, as with AbortController. */
  abort(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }

  throwIfAborted(): void {
    if (this.isAborted) throw this.abortReason;
  }

  /** Calls `listener` once, on abort; never if already aborted (check `aborted` first). */
  onAbort(listener: () => void): void {
    if (this.isAborted) return;
    if (this.listeners === undefined) this.listeners = [listener];
    else this.listeners.push(listener);
  }

  offAbort(listener: () => void): void {
    const listeners = this.listeners;
    if (listeners === undefined) return;
    const index = listeners.indexOf(listener);
    if (index !== -1) listeners.splice(index, 1);
  }
}
