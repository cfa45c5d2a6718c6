import type { Clock } from '@nimbus/api';

/**
 * Tells `listener` that a connection is back after it was lost, at most once per `minIntervalMs`:
 * a login that is refused makes the client reconnect every second, and each of those must not
 * requeue every Function. A notice due too soon is put off to the end of the interval, never
 * dropped: the reconnect that lasts may be the one that came too soon.
 */
export class ReconnectNotice {
  private lost = false;
  private lastNotice = Number.NEGATIVE_INFINITY;
  private timer: unknown;

  constructor(
    private readonly listener: () => void,
    private readonly clock: Clock,
    private readonly minIntervalMs = 5_000,
  ) {}

  closed(): void {
    this.lost = true;
  }

  ready(): void {
    if (!this.lost) return; // the first connect is no comeback
    this.lost = false;
    if (this.timer !== undefined) return;
    const wait = this.lastNotice + this.minIntervalMs - this.clock.now();
    if (wait <= 0) this.notify();
    else this.timer = this.clock.setTimeout(() => this.notify(), wait);
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private notify(): void {
    this.timer = undefined;
    this.lastNotice = this.clock.now();
    this.listener();
  }
}
