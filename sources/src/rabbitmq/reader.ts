import { type Backoff, backoffDelay } from '@nimbus/api';
import type { ConsumeMessage } from 'amqplib';
import { SourceConfigError, type SourceContext, type SourceHealth, type SourceReader } from '../source.js';
import { brokerFailure } from './broker-errors.js';
import { type BrokerAddress, readBrokerAddress } from './broker-url.js';
import { ConsumerSession, QueueMissingError } from './consumer-session.js';
import { attemptOf, messageEvent } from './message-event.js';

export interface RabbitMqReaderOptions {
  /** Waits between connection attempts after a failure (default 0.5 s doubling to 30 s, jittered). */
  readonly reconnect?: Backoff;
  /** How often the backlog is read with a passive queue check while connected (default 5 s). */
  readonly backlogIntervalMs?: number;
  /** How long stop() waits for deliveries in flight before it closes anyway (default 30 s). */
  readonly stopGraceMs?: number;
  readonly connectTimeoutMs?: number;
}

const DEFAULT_RECONNECT: Backoff = { baseMs: 500, maxMs: 30_000, jitter: 'equal' };

/**
 * Consumes a trigger's queue in this gateway replica: every replica runs one, and RabbitMQ shares
 * the messages out. Each message runs through the trigger's deliveries (`sink.deliver`, which
 * settles once delivered or dead-lettered) and is acked only then; a delivery that could not be
 * settled is nacked back onto the queue. The broker holds what is unacked, so a reader that dies
 * mid-delivery loses nothing: the message comes again, redelivered. `prefetch` (basic.qos) bounds
 * the deliveries in flight.
 */
export class RabbitMqReader implements SourceReader {
  private loop: Promise<void> | undefined;
  private stopping = false;
  private requestStop!: () => void;
  private readonly stopRequested = new Promise<void>((resolve) => {
    this.requestStop = resolve;
  });
  private readonly inflight = new Set<Promise<void>>();
  private health: SourceHealth = { connected: false };
  private readonly reconnect: Backoff;

  constructor(
    private readonly context: SourceContext<'rabbitmq'>,
    private readonly options: RabbitMqReaderOptions = {},
  ) {
    this.reconnect = options.reconnect ?? DEFAULT_RECONNECT;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.requestStop();
    await this.loop;
    // Deliveries from a session that ended earlier can no longer be acked, but they still run.
    await this.drain();
    this.report({ connected: false, lastError: this.health.lastError });
  }

  private async run(): Promise<void> {
    const { source, secrets, log } = this.context;
    let failures = 0;
    while (!this.stopping) {
      let address: BrokerAddress | undefined;
      let failure: unknown;
      try {
        address = await readBrokerAddress(source, secrets);
        const session = await this.connect(address);
        failures = 0;
        failure = await this.consume(session);
      } catch (err) {
        failure = err;
      }
      if (this.stopping) break;
      failures++;
      const error = address === undefined ? toError(failure) : brokerFailure(failure, address, source);
      const lastError =
        error instanceof SourceConfigError ? `${error.field}: ${error.message}` : error.message;
      const configError = error instanceof SourceConfigError || failure instanceof QueueMissingError;
      (configError ? log.warn : log.info).call(log, 'rabbitmq source: reconnecting', {
        queue: source.spec.queue,
        error: lastError,
        failures,
      });
      this.report({ connected: false, backlog: this.health.backlog, lastError });
      await this.pause(backoffDelay(this.reconnect, failures));
    }
  }

  private connect(address: BrokerAddress): Promise<ConsumerSession> {
    const { spec, concurrency } = this.context.source;
    return ConsumerSession.start(
      address,
      { queue: spec.queue, prefetch: concurrency, connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000 },
      (session, message) => this.receive(session, message, address),
    );
  }

  /** Reads until the session ends (resolving with why) or stop() is called (then drains and closes). */
  private async consume(session: ConsumerSession): Promise<unknown> {
    this.report({ connected: true, backlog: this.health.backlog });
    const polling = this.pollBacklog(session);
    try {
      const ended = await Promise.race([session.ended, this.stopRequested.then(() => undefined)]);
      if (ended !== undefined) return ended;
      await session.cancel();
      await this.drain();
      return undefined;
    } finally {
      polling.stop();
      await session.close();
    }
  }

  private receive(session: ConsumerSession, message: ConsumeMessage, address: BrokerAddress): void {
    const { sink, clock, log, source } = this.context;
    const event = messageEvent(message, `${address.display}#${source.spec.queue}`, clock.now());
    const attempt = attemptOf(message);
    const delivery = Promise.resolve()
      .then(() => sink.deliver(event, attempt))
      .then(
        () => {
          if (!session.ack(message))
            log.info('rabbitmq source: delivered, but the channel closed first; the broker gives it again', {
              id: event.id,
            });
        },
        (err: unknown) => {
          session.nack(message);
          log.warn('rabbitmq source: delivery not settled, handed back to the queue', {
            id: event.id,
            error: address.redact(err instanceof Error ? err.message : String(err)),
          });
        },
      );
    this.inflight.add(delivery);
    void delivery.finally(() => this.inflight.delete(delivery));
  }

  /** Waits for the deliveries in flight to settle, for at most the stop grace. */
  private async drain(): Promise<void> {
    if (this.inflight.size === 0) return;
    const { clock } = this.context;
    let timer: unknown;
    const grace = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, this.options.stopGraceMs ?? 30_000);
    });
    await Promise.race([Promise.allSettled([...this.inflight]), grace]);
    clock.clearTimeout(timer);
  }

  /** Reads the backlog now and every interval until stopped; a failed read waits for the next. */
  private pollBacklog(session: ConsumerSession): { stop(): void } {
    const { clock } = this.context;
    let timer: unknown;
    let stopped = false;
    const poll = async () => {
      try {
        const backlog = await session.backlog();
        if (!stopped) this.report({ ...this.health, backlog });
      } catch {
        // The session's own end reports what went wrong.
      }
      if (!stopped) timer = clock.setTimeout(poll, this.options.backlogIntervalMs ?? 5_000);
    };
    void poll();
    return {
      stop() {
        stopped = true;
        clock.clearTimeout(timer);
      },
    };
  }

  /** Waits `ms` on the clock, or less if stop() is called. */
  private pause(ms: number): Promise<void> {
    const { clock } = this.context;
    let timer: unknown;
    return Promise.race([
      new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, ms);
      }),
      this.stopRequested,
    ]).finally(() => clock.clearTimeout(timer));
  }

  private report(health: SourceHealth): void {
    const last = this.health;
    this.health = health;
    if (
      last.connected === health.connected &&
      last.backlog === health.backlog &&
      last.lastError === health.lastError
    )
      return;
    this.context.sink.report(health);
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
