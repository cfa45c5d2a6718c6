import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { BrokerAddress } from './broker-url.js';

/**
 * A short-lived connection for the provisioner's few operations. A broker error on an AMQP channel
 * closes that channel, so each operation that fails leaves the next one a fresh channel.
 */
export class BrokerConnection {
  private channel: Promise<Channel> | undefined;
  /** Why the broker closed the connection, when it did: it comes before the channels learn of it. */
  private failure: Error | undefined;

  private constructor(private readonly connection: ChannelModel) {
    connection.on('error', (err: Error) => {
      this.failure = err;
    });
  }

  static async open(address: BrokerAddress, connectTimeoutMs = 10_000): Promise<BrokerConnection> {
    return new BrokerConnection(await amqp.connect(address.connect, { timeout: connectTimeoutMs }));
  }

  /** Runs `op` on the shared channel; a failure retires the channel (the broker closed it). */
  async run<T>(op: (channel: Channel) => Promise<T>): Promise<T> {
    this.channel ??= this.connection.createChannel().then((channel) => {
      channel.on('error', () => {});
      return channel;
    });
    const channel = this.channel;
    try {
      return await op(await channel);
    } catch (err) {
      if (this.channel === channel) this.channel = undefined;
      // A channel ended by the connection's close only says so: the connection's error says why.
      throw (err as { code?: unknown }).code === undefined && this.failure !== undefined ? this.failure : err;
    }
  }

  /** A channel with publisher confirms of its own, for the record of what was provisioned. */
  async confirmChannel(): Promise<ConfirmChannel> {
    const channel = await this.connection.createConfirmChannel();
    channel.on('error', () => {});
    return channel;
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => {});
  }
}

/** Opens a connection for `op` and closes it after, whatever happens. */
export async function withBroker<T>(
  address: BrokerAddress,
  op: (broker: BrokerConnection) => Promise<T>,
): Promise<T> {
  const broker = await BrokerConnection.open(address);
  try {
    return await op(broker);
  } finally {
    await broker.close();
  }
}
