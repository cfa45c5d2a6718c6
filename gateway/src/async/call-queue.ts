import { type Backoff, type Clock, type Logger, backoffDelay, systemClock } from '@nimbus/api';
import {
  BusUnavailableError,
  CALLS_CONSUMER,
  CALLS_STREAM,
  type ConsumeOptions,
  JetStreamBus,
  MemoryBus,
  type MessageBus,
  type MessageHandler,
  NATS_INBOX_PREFIX,
  type NatsCredentials,
  type PublishAck,
  type PublishOptions,
  type Subscription,
  callsConsumerConfig,
  callsStreamConfig,
  deadLetterStreamConfig,
} from '@nimbus/bus';
import type { AsyncConfig } from './async-config.js';

/** Between tries to reach NATS or to set the streams up: 50–100 ms at first, at most 2.5–5 s. */
const RECONNECT_BACKOFF: Backoff = { baseMs: 100, maxMs: 5_000, jitter: 'equal' };

/** Connects to the bus the configuration names; the default is NATS through JetStreamBus. */
export type BusConnector = (natsUrl: string, credentials: NatsCredentials | undefined) => Promise<MessageBus>;

/** As the gateway's NATS user, whose permissions cover its own inbox prefix only. */
const connectJetStream: BusConnector = (natsUrl, credentials) =>
  JetStreamBus.connect({
    servers: natsUrl.split(',').map((u) => u.trim()),
    name: 'nimbus-gateway',
    user: credentials?.user,
    pass: credentials?.pass,
    inboxPrefix: NATS_INBOX_PREFIX.gateway,
  });

/**
 * The gateway's way to the async call queue: NATS JetStream when NIMBUS_NATS_URL is set (connected
 * in the background, since NATS may be down when the gateway starts and sync calls must not wait
 * for it), the in-memory bus otherwise. It makes sure the calls stream, the dead-letter stream and
 * the shared durable exist, and again whenever a publish finds the stream missing (a NATS that
 * lost its store).
 */
export class CallQueue {
  private bus: MessageBus | undefined;
  /** Set once connected and set up: what whenConnected() hands out from then on. */
  private ready: MessageBus | undefined;
  private connecting: Promise<MessageBus | undefined> | undefined;
  private ensuring: Promise<void> | undefined;
  private topologyReady = false;
  private closed = false;
  private wakeRetry: (() => void) | undefined;
  private readonly connectedWaiters: ((bus: MessageBus | undefined) => void)[] = [];

  constructor(
    private readonly config: AsyncConfig,
    private readonly log: Logger,
    /** A bus made by the host (tests, or a process that shares one); the queue does not close it. */
    private readonly given: MessageBus | undefined = undefined,
    private readonly connector: BusConnector = connectJetStream,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Begins connecting; returns at once. */
  start(): void {
    if (this.connecting !== undefined || this.closed) return;
    this.connecting = this.connect();
  }

  /** Why a call cannot be queued now, or undefined when it can. */
  unavailableReason(): string | undefined {
    if (this.closed) return 'the gateway is shutting down';
    if (this.bus === undefined) return 'not connected to NATS yet';
    if (!this.topologyReady) return `the ${CALLS_STREAM} stream is not set up yet`;
    return undefined;
  }

  /** Stores a call; resolves with the stream's ack. BusUnavailableError when it cannot now. */
  async publish(subject: string, data: Uint8Array, options: PublishOptions): Promise<PublishAck> {
    const reason = this.unavailableReason();
    if (reason !== undefined || this.bus === undefined)
      throw new BusUnavailableError(`cannot queue the call: ${reason}`, 'disconnected');
    try {
      return await this.bus.publish(subject, data, options);
    } catch (err) {
      if (err instanceof BusUnavailableError && err.reason === 'no-stream') void this.ensureTopology();
      throw err;
    }
  }

  /** Subscribes to the shared calls durable once connected; the subscription rides out reconnects itself. */
  async consume(handler: MessageHandler, options: ConsumeOptions): Promise<Subscription | undefined> {
    const bus = await this.whenConnected();
    if (bus === undefined) return undefined;
    return bus.consume(CALLS_STREAM, CALLS_CONSUMER, handler, options);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeRetry?.();
    await this.connecting;
    await this.ensuring;
    for (const wake of this.connectedWaiters.splice(0)) wake(undefined);
    if (this.bus !== undefined && this.given === undefined) await this.bus.close();
  }

  /** The bus if connected by now (NATS or the memory bus): for the metrics, read when scraped. */
  get connection(): MessageBus | undefined {
    return this.bus;
  }

  /** The bus once connected (undefined when the queue closed first): for other consumers of the same connection. */
  whenConnected(): Promise<MessageBus | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    if (this.ready !== undefined) return Promise.resolve(this.ready);
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  private async connect(): Promise<MessageBus | undefined> {
    const { natsUrl } = this.config;
    if (this.given !== undefined) this.bus = this.given;
    else if (natsUrl === undefined) {
      this.log.info('no NIMBUS_NATS_URL: async calls queue in memory, lost on restart');
      this.bus = new MemoryBus();
    } else {
      for (let attempt = 0; !this.closed && this.bus === undefined; attempt++) {
        try {
          this.bus = await this.connector(natsUrl, this.config.natsCredentials);
          this.log.info('async calls queue in NATS JetStream', {
            nats: natsUrl,
            natsUser: this.config.natsCredentials?.user ?? '(anonymous)',
            stream: CALLS_STREAM,
          });
        } catch (err) {
          if (attempt === 0)
            this.log.warn('NATS is unreachable; async calls get 503 until it answers', {
              nats: natsUrl,
              err: (err as Error).message,
            });
          await this.pause(attempt);
        }
      }
    }
    const bus = this.bus;
    if (bus === undefined) return undefined;
    await this.ensureTopology();
    this.ready = bus;
    for (const wake of this.connectedWaiters.splice(0)) wake(bus);
    return bus;
  }

  /** Creates or converges the streams and the durable, trying again until it works or the queue closes. */
  private ensureTopology(): Promise<void> {
    this.ensuring ??= (async () => {
      const bus = this.bus;
      for (let attempt = 0; bus !== undefined && !this.closed; attempt++) {
        try {
          await bus.ensureStream(callsStreamConfig());
          await bus.ensureStream(deadLetterStreamConfig());
          await bus.ensureConsumer(callsConsumerConfig({ maxAckPending: this.config.maxAckPending }));
          this.topologyReady = true;
          return;
        } catch (err) {
          if (attempt === 0)
            this.log.warn('cannot set up the async call streams yet; trying again', {
              err: (err as Error).message,
            });
          await this.pause(attempt);
        }
      }
    })().finally(() => {
      this.ensuring = undefined;
    });
    return this.ensuring;
  }

  /** The wait after failure number `attempt` (0 for the first); close() cuts it short. */
  private pause(attempt: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.clock.clearTimeout(timer);
        this.wakeRetry = undefined;
        resolve();
      };
      const timer = this.clock.setTimeout(done, backoffDelay(RECONNECT_BACKOFF, attempt + 1));
      this.wakeRetry = done;
    });
  }
}
