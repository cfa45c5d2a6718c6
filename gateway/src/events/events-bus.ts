import type { Logger } from '@nimbus/api';
import { JetStreamBus, type MessageBus, type NatsCredentials } from '@nimbus/bus';

/** Connects as a NATS user; JetStreamBus by default. */
export type EventsConnector = (natsUrl: string, credentials: NatsCredentials) => Promise<MessageBus>;

const connectJetStream: EventsConnector = (natsUrl, credentials) =>
  JetStreamBus.connect({
    servers: natsUrl.split(',').map((u) => u.trim()),
    name: 'nimbus-gateway-events',
    user: credentials.user,
    pass: credentials.pass,
  });

/**
 * Where the events functions publish go: a connection of its own as the NATS publisher user when
 * one is configured (least privilege: NATS itself refuses Nimbus's subjects to it), else the
 * gateway's connection. The own connection is made on the first publish, and again after a failed
 * attempt; once made, it reconnects by itself.
 */
export class EventsBus {
  private connecting: Promise<MessageBus> | undefined;
  private closed = false;

  constructor(
    private readonly own: { readonly natsUrl: string; readonly credentials: NatsCredentials } | undefined,
    private readonly gatewayBus: () => MessageBus | undefined,
    private readonly log: Logger,
    private readonly connect: EventsConnector = connectJetStream,
  ) {}

  /** The bus to publish on; rejects when the own connection cannot be made now. */
  async bus(): Promise<MessageBus | undefined> {
    if (this.own === undefined) return this.gatewayBus();
    if (this.closed) return undefined;
    const { natsUrl, credentials } = this.own;
    this.connecting ??= this.connect(natsUrl, credentials).then(
      (bus) => {
        this.log.info('function events publish as their own NATS user', { natsUser: credentials.user });
        return bus;
      },
      (err: unknown) => {
        this.connecting = undefined;
        throw err;
      },
    );
    return this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    const connecting = this.connecting;
    this.connecting = undefined;
    const bus = await connecting?.catch(() => undefined);
    await bus?.close();
  }
}
