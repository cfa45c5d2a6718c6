import { DebugEvents, Events, type NatsConnection } from 'nats';
import { reconnectDelay } from '../retry-delay.js';

/**
 * Whether the connection is up right now, so that a publish can fail at once instead of waiting
 * out its timeout in nats.js's buffer; and the reconnect back-off, which nats.js asks for through
 * a callback without telling how many attempts have failed.
 */
export class ConnectionState {
  connected = true;
  /** Connections lost so far: an ack sent on one that was lost since may not have landed. */
  disconnects = 0;
  private failedAttempts = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {}

  readonly nextDelay = (): number =>
    reconnectDelay(this.failedAttempts, this.minMs, this.maxMs, Math.random());

  watch(nc: NatsConnection): void {
    (async () => {
      for await (const status of nc.status()) {
        if (status.type === Events.Disconnect) {
          this.connected = false;
          this.disconnects++;
        }
        if (status.type === DebugEvents.Reconnecting) this.failedAttempts++;
        if (status.type === Events.Reconnect) {
          this.connected = true;
          this.failedAttempts = 0;
        }
      }
    })().catch(() => {});
    nc.closed().then(() => {
      this.connected = false;
    });
  }
}
