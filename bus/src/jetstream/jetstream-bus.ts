import { type JetStreamClient, type JetStreamManager, type NatsConnection, connect } from 'nats';
import {
  type ConsumerConfig,
  type ConsumerInfo,
  consumerChanges,
  resolveConsumerConfig,
} from '../consumers.js';
import { BusConfigError, BusUnavailableError } from '../errors.js';
import { checkHeaders } from '../headers.js';
import type {
  ConsumeOptions,
  MessageBus,
  MessageHandler,
  PublishAck,
  PublishOptions,
  Subscription,
} from '../message-bus.js';
import { checkName } from '../names.js';
import { type StreamConfig, type StreamState, resolveStreamConfig, streamChanges } from '../streams.js';
import { checkSubject } from '../subjects.js';
import { ConnectionState } from './connection-state.js';
import { CONSUMER_NOT_FOUND, STREAM_NOT_FOUND, isApiError, toBusError } from './errors.js';
import { JetStreamSubscription } from './jetstream-subscription.js';
import { PublishAcks } from './publish-acks.js';
import {
  changeableNatsConsumer,
  fromNatsConsumer,
  fromNatsStream,
  toNatsConsumer,
  toNatsHeaders,
  toNatsStream,
} from './translate.js';
import { WriteTurn } from './write-turn.js';

export interface JetStreamBusOptions {
  /** `nats://host:port`, or several for a cluster. */
  readonly servers: string | readonly string[];
  /** Shown by the server for this connection (e.g. `nimbus-gateway`). */
  readonly name?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /**
   * Where this connection's replies and pulled messages arrive (default `_INBOX`). A NATS with
   * per-user permissions lets each component subscribe below its own prefix only.
   */
  readonly inboxPrefix?: string;
  /** Bound on a publish, an ack or a management call; default 2000 ms. */
  readonly timeoutMs?: number;
  /** Reconnect back-off: first wait, doubling up to the cap; default 100 ms to 5000 ms. Forever. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** How often to ping the server, to notice one that vanished without closing the socket; default 10 s. */
  readonly pingIntervalMs?: number;
}

/**
 * The message bus on NATS JetStream. The connection reconnects forever with capped back-off;
 * while it is down, publishes and management calls fail at once with BusUnavailableError, and
 * subscriptions pick up again by themselves when it is back.
 */
export class JetStreamBus implements MessageBus {
  private readonly js: JetStreamClient;
  private readonly subscriptions = new Set<JetStreamSubscription>();
  private closing = false;
  /** Publishes and acks of one turn of the event loop go out in one write. */
  private readonly turn = new WriteTurn();
  private readonly acks: PublishAcks;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly state: ConnectionState,
    private readonly options: JetStreamBusOptions,
    private readonly timeoutMs: number,
  ) {
    this.js = nc.jetstream({ timeout: timeoutMs });
    this.acks = new PublishAcks(nc, options.inboxPrefix);
  }

  /** Connects once; throws BusUnavailableError when the server cannot be reached now. */
  static async connect(options: JetStreamBusOptions): Promise<JetStreamBus> {
    const timeoutMs = options.timeoutMs ?? 2_000;
    const state = new ConnectionState(options.reconnectMinMs ?? 100, options.reconnectMaxMs ?? 5_000);
    const servers = typeof options.servers === 'string' ? [options.servers] : [...options.servers];
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: options.name,
        user: options.user,
        pass: options.pass,
        token: options.token,
        inboxPrefix: options.inboxPrefix,
        timeout: timeoutMs,
        maxReconnectAttempts: -1,
        reconnectDelayHandler: state.nextDelay,
        pingInterval: options.pingIntervalMs ?? 10_000,
        maxPingOut: 2,
        // The client would otherwise build an Error (a stack capture) for every request and
        // publish acknowledgement in case it times out: about 7% of the gateway's CPU under async
        // load. Our errors carry the subject and the operation, which is what a reader needs.
        noAsyncTraces: true,
      });
    } catch (err) {
      // The server's reason (say, an authorization violation) is what an operator needs to see.
      const reason = err instanceof Error ? `: ${err.message}` : '';
      throw new BusUnavailableError(
        `cannot connect to NATS at ${servers.join(', ')}${reason}`,
        'disconnected',
        {
          cause: err,
        },
      );
    }
    state.watch(nc);
    // checkAPI off: JetStream may still be starting; calls say so when they are made.
    const jsm = await nc.jetstreamManager({ timeout: timeoutMs, checkAPI: false });
    return new JetStreamBus(nc, jsm, state, options, timeoutMs);
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishAck> {
    checkSubject(subject, 'subject', false);
    checkHeaders(options.headers ?? {});
    const what = `publish to ${subject}`;
    this.assertUsable(what);
    await this.turn.next();
    try {
      return await this.acks.publish(
        subject,
        data,
        options.msgId,
        toNatsHeaders(options.headers),
        this.timeoutMs,
      );
    } catch (err) {
      throw toBusError(err, what, 'no-stream');
    }
  }

  consume(
    stream: string,
    consumer: string,
    handler: MessageHandler,
    options: ConsumeOptions = {},
  ): Subscription {
    this.assertUsable(`consume from ${stream}/${consumer}`, false);
    checkName(stream, 'stream name');
    checkName(consumer, 'consumer name');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new BusConfigError(`concurrency must be a whole number of at least 1, not ${concurrency}`);
    const subscription = new JetStreamSubscription({
      js: this.js,
      stream,
      consumer,
      handler,
      concurrency,
      onError: options.onError ?? (() => {}),
      timeoutMs: this.timeoutMs,
      retryMinMs: this.options.reconnectMinMs ?? 100,
      retryMaxMs: this.options.reconnectMaxMs ?? 5_000,
      connected: () => this.state.connected,
      disconnects: () => this.state.disconnects,
      turn: this.turn,
    });
    this.subscriptions.add(subscription);
    return {
      stop: async () => {
        this.subscriptions.delete(subscription);
        await subscription.stop();
      },
    };
  }

  async ensureStream(config: StreamConfig): Promise<void> {
    const desired = resolveStreamConfig(config);
    await this.call(`ensure stream ${desired.name}`, async () => {
      const observed = await this.jsm.streams.info(desired.name).catch((err: unknown) => {
        if (isApiError(err, STREAM_NOT_FOUND)) return undefined;
        throw err;
      });
      if (observed === undefined) {
        await this.jsm.streams.add(toNatsStream(desired));
        return;
      }
      if (streamChanges(desired, fromNatsStream(observed.config)).length === 0) return;
      const { subjects, max_age, duplicate_window, num_replicas } = toNatsStream(desired);
      await this.jsm.streams.update(desired.name, { subjects, max_age, duplicate_window, num_replicas });
    });
  }

  async deleteStream(name: string): Promise<boolean> {
    checkName(name, 'stream name');
    return this.call(`delete stream ${name}`, () =>
      this.jsm.streams.delete(name).catch((err: unknown) => {
        if (isApiError(err, STREAM_NOT_FOUND)) return false;
        throw err;
      }),
    );
  }

  async ensureConsumer(config: ConsumerConfig): Promise<ConsumerInfo> {
    const desired = resolveConsumerConfig(config);
    const info = await this.call(`ensure consumer ${desired.stream}/${desired.name}`, async () => {
      const observed = await this.readConsumer(desired.stream, desired.name);
      if (observed === undefined)
        return fromNatsConsumer(await this.jsm.consumers.add(desired.stream, toNatsConsumer(desired)));
      if (consumerChanges(desired, observed.config).length === 0) return observed;
      return fromNatsConsumer(
        await this.jsm.consumers.update(desired.stream, desired.name, changeableNatsConsumer(desired)),
      );
    });
    for (const subscription of this.subscriptions) {
      if (subscription.matches(desired.stream, desired.name)) subscription.updatePolicy(info.config);
    }
    return info;
  }

  async deleteConsumer(stream: string, name: string): Promise<boolean> {
    checkName(stream, 'stream name');
    checkName(name, 'consumer name');
    return this.call(`delete consumer ${stream}/${name}`, () =>
      this.jsm.consumers.delete(stream, name).catch((err: unknown) => {
        if (isApiError(err, STREAM_NOT_FOUND) || isApiError(err, CONSUMER_NOT_FOUND)) return false;
        throw err;
      }),
    );
  }

  async consumerInfo(stream: string, name: string): Promise<ConsumerInfo | undefined> {
    checkName(stream, 'stream name');
    checkName(name, 'consumer name');
    return this.call(`read consumer ${stream}/${name}`, () => this.readConsumer(stream, name));
  }

  async streamState(name: string): Promise<StreamState | undefined> {
    checkName(name, 'stream name');
    return this.call(`read stream ${name}`, async () => {
      try {
        // subjects_filter asks for the per-subject counts, which the server leaves out otherwise.
        const { state } = await this.jsm.streams.info(name, { subjects_filter: '>' });
        return {
          messages: state.messages,
          oldestTimestamp: state.messages === 0 ? undefined : Date.parse(state.first_ts),
          bySubject: new Map(Object.entries(state.subjects ?? {})),
        };
      } catch (err) {
        if (isApiError(err, STREAM_NOT_FOUND)) return undefined;
        throw err;
      }
    });
  }

  get reachable(): boolean {
    return this.state.connected && !this.nc.isClosed();
  }

  async listConsumers(stream: string): Promise<ConsumerInfo[]> {
    checkName(stream, 'stream name');
    return this.call(`list consumers of ${stream}`, async () => {
      const found: ConsumerInfo[] = [];
      try {
        for await (const info of this.jsm.consumers.list(stream)) found.push(fromNatsConsumer(info));
      } catch (err) {
        if (isApiError(err, STREAM_NOT_FOUND)) return [];
        throw err;
      }
      return found;
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const subscriptions = [...this.subscriptions];
    this.subscriptions.clear();
    for (const subscription of subscriptions) subscription.halt();
    if (!this.state.connected && !this.nc.isClosed()) {
      // Nothing can be sent anyway; closing now fails requests in flight instead of waiting them out.
      await this.nc.close();
    }
    await Promise.all(subscriptions.map((s) => s.finished()));
    if (this.nc.isClosed()) return;
    // Drain lets acks already sent go out; a server that goes away meanwhile cannot be drained, so bound it.
    const drained = this.nc.drain().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs);
    });
    await Promise.race([drained, bound]);
    clearTimeout(timer);
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private async readConsumer(stream: string, name: string): Promise<ConsumerInfo | undefined> {
    try {
      return fromNatsConsumer(await this.jsm.consumers.info(stream, name));
    } catch (err) {
      if (isApiError(err, STREAM_NOT_FOUND) || isApiError(err, CONSUMER_NOT_FOUND)) return undefined;
      throw err;
    }
  }

  /** A management call, failing at once while disconnected and with a bus error otherwise. */
  private async call<T>(what: string, work: () => Promise<T>): Promise<T> {
    this.assertUsable(what);
    try {
      return await work();
    } catch (err) {
      throw toBusError(err, what, 'disconnected');
    }
  }

  private assertUsable(what: string, needConnection = true): void {
    if (this.closing || this.nc.isClosed())
      throw new BusUnavailableError(`${what}: the bus is closed`, 'closed');
    if (needConnection && !this.state.connected)
      throw new BusUnavailableError(`${what}: NATS is unreachable`, 'disconnected');
  }
}
