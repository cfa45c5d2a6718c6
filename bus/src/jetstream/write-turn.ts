/**
 * One turn of the event loop that NATS commands wait for, so those issued from many callbacks of
 * the same turn leave in one socket write. nats.js writes what it has queued at the end of the
 * microtasks that follow a command, which is once per I/O callback: under load every publish and
 * every ack (each issued from the callback of the answer that prompted it) cost a write of its own,
 * a fifth of the gateway's time on a busy machine. Everyone who asks during a turn is resumed in the
 * same microtask checkpoint of the check phase that ends it, in the order they asked, so their
 * commands queue together and the order among them holds. The price is the wait for that phase,
 * microseconds on an idle loop.
 */
export class WriteTurn {
  private pending: Promise<void> | undefined;

  /** Resolves in the check phase of this turn of the event loop, together with every other caller's. */
  next(): Promise<void> {
    this.pending ??= new Promise<void>((resolve) => {
      setImmediate(() => {
        this.pending = undefined;
        resolve();
      });
    });
    return this.pending;
  }
}
