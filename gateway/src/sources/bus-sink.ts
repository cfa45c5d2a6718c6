import type { ResolvedSource } from '@nimbus/api';
import { BusPayloadTooLargeError, type MessageBus, sourceSubject } from '@nimbus/bus';
import type { SourceEvent, SourceHealth, SourceSink } from '@nimbus/sources';
import type { DirectDelivery } from './direct-delivery.js';
import type { SourceHealthBoard } from './source-health.js';
import { sourceEventKey, sourceMessageHeaders } from './source-message.js';

export interface SinkDeps {
  /** The gateway's bus connection, once there is one (undefined: closed). */
  readonly bus: () => Promise<MessageBus | undefined>;
  readonly direct: DirectDelivery;
  readonly health: SourceHealthBoard;
}

/** Thrown by store() when the bus is closed: the origin keeps the event. */
export class BusClosedError extends Error {
  constructor() {
    super('the event bus is closed; the event stays with its origin');
    this.name = 'BusClosedError';
  }
}

/**
 * One source trigger's way into the durable path. `store` puts an event on the trigger's subject
 * in NIMBUS_SOURCES with a deduplication id of its own (so an event read twice is stored once)
 * and resolves with the stream's ack; `deliver` runs it straight through the trigger's attempts.
 */
export class BusSourceSink implements SourceSink {
  private readonly subject: string;

  constructor(
    private readonly source: ResolvedSource,
    private readonly deps: SinkDeps,
  ) {
    this.subject = sourceSubject(source);
  }

  async store(event: SourceEvent): Promise<void> {
    try {
      const headers = sourceMessageHeaders(event);
      const bus = await this.deps.bus();
      if (bus === undefined) throw new BusClosedError();
      await bus.publish(this.subject, event.data, {
        msgId: sourceEventKey('src', this.source, event.id),
        headers,
      });
    } catch (err) {
      if (err instanceof BusPayloadTooLargeError && (await this.setAside(event, err))) return;
      this.deps.health.count(this.source, 'store-failed');
      throw err;
    }
    this.deps.health.count(this.source, 'stored');
  }

  /**
   * An event too large for the bus will be too large every time its origin gives it again, and an
   * origin that keeps order (an MQTT session, a replication slot) would stall behind it: it goes to
   * the dead letters instead, with its size, and store() resolves so the origin moves on. False when
   * even that failed: the origin keeps it.
   */
  private async setAside(event: SourceEvent, err: Error): Promise<boolean> {
    const why = `not stored: the event is ${event.data.byteLength} bytes, more than the event bus takes (${err.message})`;
    try {
      await this.deps.direct.refuse(this.source, event, why);
    } catch {
      return false;
    }
    this.deps.health.count(this.source, 'dead-lettered');
    return true;
  }

  async deliver(event: SourceEvent, attempt: number): Promise<void> {
    const outcome = await this.deps.direct.deliver(this.source, event, attempt);
    this.deps.health.count(this.source, outcome);
  }

  report(health: SourceHealth): void {
    this.deps.health.report(this.source, health);
  }
}
