import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { NOT_FOUND, replyCode } from './broker-errors.js';
import type { BrokerAddress } from './broker-url.js';

export interface SessionOptions {
  readonly queue: string;
  readonly prefetch: number;
  /** How long connecting may take, the TCP connect and AMQP handshake together (ms). */
  readonly connectTimeoutMs: number;
}

/** A queue the broker says is not there: the reader says so in its health, then tries again. */
export class QueueMissingError extends Error {
  constructor(queue: string, vhost: string) {
    super(`the queue ${JSON.stringify(queue)} does not exist in vhost ${JSON.stringify(vhost)}`);
    this.name = 'QueueMissingError';
  }
}

/**
 * One connection consuming one queue: a channel with basic.qos(prefetch) and manual acks, and a
 * second channel for the passive queue checks behind the backlog (a failed check closes its
 * channel, and must not take the consumer's with it). Delivery tags belong to the channel: once it
 * has closed, an ack is impossible and the broker gives the message again, so `ack` and `nack`
 * then do nothing.
 */
export class ConsumerSession {
  /** Resolves, once, with why the session ended: the connection or channel closed, or the consumer was cancelled. */
  readonly ended: Promise<Error>;
  private end!: (err: Error) => void;
  private open = true;
  private consumerTag: string | undefined;
  private probe: Promise<Channel> | undefined;

  private constructor(
    private readonly connection: ChannelModel,
    private readonly channel: Channel,
    private readonly address: BrokerAddress,
    private readonly queue: string,
  ) {
    this.ended = new Promise((resolve) => {
      this.end = (err) => {
        if (!this.open) return;
        this.open = false;
        resolve(err);
      };
    });
    connection.on('error', (err: Error) => this.end(err));
    connection.on('close', (err?: Error) => this.end(err ?? new Error('the connection closed')));
    channel.on('error', (err: Error) => this.end(err));
    channel.on('close', () => this.end(new Error('the channel closed')));
  }

  /** Connects, checks the queue, and consumes it, calling `receive` for each message. */
  static async start(
    address: BrokerAddress,
    options: SessionOptions,
    receive: (session: ConsumerSession, message: ConsumeMessage) => void,
  ): Promise<ConsumerSession> {
    const connection = await amqp.connect(address.connect, {
      timeout: options.connectTimeoutMs,
      clientProperties: { connection_name: `nimbus ${options.queue}` },
    });
    // Until the session listens, an error event must not go unheard (it would throw).
    connection.on('error', () => {});
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      await channel.prefetch(options.prefetch);
      try {
        await channel.checkQueue(options.queue);
      } catch (err) {
        throw replyCode(err) === NOT_FOUND ? new QueueMissingError(options.queue, address.vhost) : err;
      }
      const session = new ConsumerSession(connection, channel, address, options.queue);
      const { consumerTag } = await channel.consume(
        options.queue,
        (message) => {
          // null: the broker cancelled the consumer (the queue was deleted).
          if (message === null) session.end(new QueueMissingError(options.queue, address.vhost));
          else receive(session, message);
        },
        { noAck: false },
      );
      session.consumerTag = consumerTag;
      return session;
    } catch (err) {
      await connection.close().catch(() => {});
      throw err;
    }
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Acknowledges the message; false when the channel has closed (the broker gives it again). */
  ack(message: ConsumeMessage): boolean {
    return this.settle(() => this.channel.ack(message));
  }

  /** Hands the message back to the queue for another delivery; false when the channel has closed. */
  nack(message: ConsumeMessage): boolean {
    return this.settle(() => this.channel.nack(message, false, true));
  }

  /** Messages ready in the queue, from a passive queue.declare: one round trip. */
  async backlog(): Promise<number> {
    this.probe ??= this.connection.createChannel().then((channel) => {
      const forget = () => {
        this.probe = undefined;
      };
      channel.on('error', forget);
      channel.on('close', forget);
      return channel;
    });
    this.probe.catch(() => {
      this.probe = undefined;
    });
    try {
      return (await (await this.probe).checkQueue(this.queue)).messageCount;
    } catch (err) {
      throw replyCode(err) === NOT_FOUND ? new QueueMissingError(this.queue, this.address.vhost) : err;
    }
  }

  /** Stops new deliveries; those already received stay unacknowledged until settled. */
  async cancel(): Promise<void> {
    if (!this.open || this.consumerTag === undefined) return;
    await this.channel.cancel(this.consumerTag).catch(() => {});
  }

  /** Closes the connection: what is still unacknowledged goes back to the queue. */
  async close(): Promise<void> {
    this.end(new Error('closed'));
    await this.connection.close().catch(() => {});
  }

  private settle(op: () => void): boolean {
    if (!this.open) return false;
    try {
      op();
      return true;
    } catch {
      // The channel closed under us, before its close event.
      return false;
    }
  }
}
