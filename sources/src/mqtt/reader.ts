import { type Backoff, backoffDelay } from '@nimbus/api';
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { SourceContext, SourceHealth, SourceReader } from '../source.js';
import { AckWindow } from './ack-window.js';
import { type MqttEndpoint, clientIdOf, describeError, readEndpoint, scrubbed } from './endpoint.js';
import { messageEvent } from './event.js';
import { openSession, sendPuback, subscribeAll } from './session.js';
import { unsubscribeStale } from './stale-filters.js';

/** Waits before reconnecting: 1 s doubling to a minute, jittered so triggers on one broker spread out. */
export const MQTT_RECONNECT: Backoff = { baseMs: 1_000, maxMs: 60_000, jitter: 'equal' };

/** QoS 1 messages the broker may have sent and the reader not acknowledged (MQTT 5 receive maximum). */
export const MQTT_IN_FLIGHT = 64;

/** One connection of the reader: its client, and the messages it took on it. */
interface Connection {
  readonly endpoint: MqttEndpoint;
  readonly window: AckWindow;
  client?: MqttClient;
  /** The last error the client reported on it, in words. */
  error?: string;
  /** Given up on (a store failed, the broker misbehaved): it takes nothing more. */
  dropped?: boolean;
}

/**
 * Reads a trigger's topic filters in its persistent session, one connection at a time. Each
 * message is stored (`sink.store`) and PUBACKed once stored; a message not acknowledged when the
 * connection ends (a crash, a failed store, a stop) stays the broker's, which gives it again on
 * the next connection. Reconnects with backoff on the injected clock, with a new client each time.
 */
export class MqttReader implements SourceReader {
  private readonly clientId: string;
  private running = false;
  private connection: Connection | undefined;
  private retry: unknown;
  /** Connections in a row that failed, and stores in a row that failed: the backoff's attempt. */
  private failures = 0;
  private storeFailures = 0;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Subscribed once: from then on the broker holds a session for the trigger. */
  private subscribed = false;
  private health: SourceHealth = { connected: false };

  constructor(private readonly context: SourceContext<'mqtt'>) {
    this.clientId = clientIdOf(context.source);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect().catch((err) => this.failed(undefined, err));
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retry !== undefined) this.context.clock.clearTimeout(this.retry);
    this.retry = undefined;
    const connection = this.connection;
    // Stores under way settle and are acknowledged on the connection they came on, which stays
    // open until then; what arrives meanwhile is left to the broker for the next session.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    this.connection = undefined;
    const client = connection?.client;
    // A normal DISCONNECT keeps the session: its expiry is "never".
    if (client !== undefined) await client.endAsync(!client.connected);
    this.report({ connected: false, ...this.lastError() });
  }

  private async connect(): Promise<void> {
    const { source, secrets } = this.context;
    const endpoint = await readEndpoint(source, secrets);
    if (!this.running) return;
    const connection: Connection = {
      endpoint,
      window: new AckWindow(
        (messageId) => {
          this.storeFailures = 0;
          if (connection.client !== undefined) sendPuback(connection.client, messageId);
        },
        (err) => this.storeFailed(connection, err),
      ),
    };
    const { client, accepted } = openSession(endpoint, {
      clientId: this.clientId,
      clean: false,
      receiveMaximum: MQTT_IN_FLIGHT,
      onMessage: (packet) => this.received(connection, packet),
    });
    connection.client = client;
    this.connection = connection;
    client.on('error', (err) => {
      connection.error = describeError(err, endpoint);
    });
    client.on('disconnect', (packet) => {
      const why = packet.properties?.reasonString ?? `reason code ${packet.reasonCode ?? 0}`;
      connection.error = describeError(`the broker disconnected the reader (${why})`, endpoint);
    });
    client.on('close', () => this.closed(connection));
    try {
      const connack = await accepted;
      if (this.subscribed && !connack.sessionPresent)
        this.context.log.warn(
          'the broker had lost the trigger session: what was published meanwhile is lost',
          {
            source: endpoint.source,
            clientId: this.clientId,
          },
        );
      const filters = await subscribeAll(client, source.spec.topics, source.spec.qos ?? 1);
      await unsubscribeStale(client, this.context.checkpoint, filters, this.context.log);
    } catch (err) {
      this.failed(connection, err);
      return;
    }
    if (this.connection !== connection) return;
    this.failures = 0;
    this.subscribed = true;
    this.context.log.info('mqtt source connected', { source: endpoint.source, clientId: this.clientId });
    this.report({ connected: true });
  }

  /**
   * Hands a message on. Returns what reading waits for: a QoS 0 store (nothing else bounds those),
   * or room in the window when it is full. A broker should never send more than the receive maximum
   * unacknowledged (MQTT 5, 4.9), but one may (mosquitto resending a session it restored after a
   * restart does): reading then pauses until stores catch up, so memory stays bounded and nothing is
   * dropped.
   */
  private received(connection: Connection, packet: IPublishPacket): Promise<unknown> | undefined {
    // Left to the broker: stopping, an old connection, one given up on, or a QoS never asked for.
    if (!this.running || this.connection !== connection || connection.dropped || packet.qos === 2)
      return undefined;
    const event = messageEvent(
      packet,
      { source: connection.endpoint.source, clientId: this.clientId },
      this.now(),
    );
    const store = this.context.sink.store(event);
    if (packet.qos === 0) {
      // At most once: a store that fails loses it, as the publisher chose; health says so.
      const settled = store.catch((err: unknown) =>
        this.report({ ...this.health, lastError: this.storeError(connection, err) }),
      );
      this.keep(settled);
      return settled;
    }
    this.keep(connection.window.track(packet.messageId ?? 0, store));
    return connection.window.room(MQTT_IN_FLIGHT);
  }

  /** Remembers a store until it settles, for stop() to wait on. */
  private keep(settled: Promise<unknown>): void {
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }

  private storeFailed(connection: Connection, err: unknown): void {
    connection.error = this.storeError(connection, err);
    connection.dropped = true;
    this.storeFailures += 1;
    this.context.log.warn('mqtt message not stored: reconnecting so the broker gives it again', {
      error: connection.error,
    });
    // Ends the connection without acknowledging: the session keeps the message for the next one.
    connection.client?.end(true);
  }

  private storeError(connection: Connection, err: unknown): string {
    return `storing a message failed: ${scrubbed(err, connection.endpoint)}`;
  }

  private failed(connection: Connection | undefined, err: unknown): void {
    const words = describeError(err, connection?.endpoint);
    if (!this.running) {
      connection?.client?.end(true);
      return;
    }
    if (connection !== undefined) {
      connection.error = words;
      connection.dropped = true;
      connection.client?.end(true); // its close schedules the next attempt
    }
    this.context.log.warn('mqtt source could not connect', { error: words });
    this.report({ connected: false, lastError: words });
    if (connection === undefined) this.schedule();
  }

  private closed(connection: Connection): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    // A broker that went away closes the socket without an error of its own.
    connection.error ??= `${connection.endpoint.source}: the connection closed`;
    this.report({ connected: false, ...this.lastError(connection) });
    this.schedule();
  }

  private schedule(): void {
    if (!this.running || this.retry !== undefined) return;
    this.failures += 1;
    const delay = backoffDelay(MQTT_RECONNECT, Math.max(this.failures, this.storeFailures));
    this.retry = this.context.clock.setTimeout(() => {
      this.retry = undefined;
      if (this.running) this.connect().catch((err) => this.failed(undefined, err));
    }, delay);
  }

  private lastError(connection?: Connection): { lastError?: string } {
    const lastError = connection?.error ?? this.health.lastError;
    return lastError === undefined ? {} : { lastError };
  }

  private now(): number {
    return this.context.clock.now();
  }

  private report(health: SourceHealth): void {
    this.health = health;
    this.context.sink.report(health);
  }
}
