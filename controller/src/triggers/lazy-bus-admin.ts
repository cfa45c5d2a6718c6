import type { BusAdmin } from '@nimbus/bus';

/**
 * The bus's management calls on a connection made at first use: NATS may be down when the
 * controller starts, and a failed connect must not stop it. Until a connect succeeds each use
 * tries again (and fails with BusUnavailableError), so the reconcile that needed it is retried
 * with backoff; once connected, the bus reconnects by itself.
 */
export class LazyBusAdmin {
  private connected: Promise<BusAdmin & { close(): Promise<void> }> | undefined;

  constructor(private readonly connect: () => Promise<BusAdmin & { close(): Promise<void> }>) {}

  async get(): Promise<BusAdmin> {
    if (this.connected === undefined) {
      const attempt = this.connect();
      this.connected = attempt;
      attempt.catch(() => {
        if (this.connected === attempt) this.connected = undefined;
      });
    }
    return this.connected;
  }

  async close(): Promise<void> {
    const connected = this.connected;
    this.connected = undefined;
    await connected?.then((bus) => bus.close()).catch(() => {});
  }
}
