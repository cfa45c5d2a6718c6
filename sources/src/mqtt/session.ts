import {
  type DoneCallback,
  ErrorWithReasonCode,
  type IClientOptions,
  type IConnackPacket,
  type IPublishPacket,
  type MqttClient,
  connect,
} from 'mqtt';
import { type MqttEndpoint, describeError } from './endpoint.js';
import { subscriptionFilters, validFilter } from './filters.js';

/**
 * One connection to the broker, opened the way every part of this source opens it: MQTT 5 (for
 * the session expiry, receive maximum, content type and SUBACK reason codes 3.1.1 lacks), no
 * reconnect of the client's own (the reader reconnects on its injected clock, with a new client,
 * so an acknowledgement never crosses from one connection into the next) and no PUBACK unless the
 * caller sends it.
 */

/**
 * How long the broker keeps a session with no connection: 0xFFFFFFFF is "never expires" (MQTT 5,
 * 3.1.2.11.2), as a 3.1.1 clean-session-false session. A finite expiry would lose every message of
 * an outage longer than it without a word; the trigger's removal (the provisioner) ends the session.
 */
export const SESSION_NEVER_EXPIRES = 0xffff_ffff;

/**
 * The largest packet the client takes (MQTT 5 maximum packet size). A broker drops a larger message
 * for this client rather than send it (MQTT 5, 3.1.2.11.4): a hostile publisher cannot make the
 * gateway buffer hundreds of megabytes, and such a message could not be stored anyway (JetStream
 * takes 1 MiB by default).
 */
export const MAX_PACKET_BYTES = 1024 * 1024 + 64 * 1024;

/** Passed to MQTT.js's handleMessage callback so that it sends no PUBACK and reads on. */
const HELD = new Error('held: acknowledged by the caller once stored');

/** A handleMessage that acknowledges nothing: a message stays the broker's until a reader stores it. */
export const holdEveryMessage = (_packet: IPublishPacket, done: DoneCallback): void => done(HELD);

export interface SessionOptions {
  readonly clientId: string;
  /** false: resume (or start) the persistent session. true: start afresh and end it on disconnect. */
  readonly clean: boolean;
  /** QoS 1 messages the broker may have unacknowledged with this client at once. */
  readonly receiveMaximum?: number;
  /**
   * Sees every message; reading goes on once the promise it returns settles (at once for
   * undefined). A QoS 1 message is never acknowledged for it: it sends the PUBACK itself with
   * `sendPuback`. Default: hold everything.
   */
  readonly onMessage?: (packet: IPublishPacket) => Promise<unknown> | undefined;
}

/** A connection the broker refused in its CONNACK, with the MQTT 5 reason code. */
export class MqttRefusedError extends Error {
  constructor(
    message: string,
    readonly reasonCode: number,
  ) {
    super(message);
    this.name = 'MqttRefusedError';
  }
}

/** CONNACK reason codes that say the login or the client itself is wrong: waiting will not fix them. */
export const CONFIG_REFUSALS: ReadonlySet<number> = new Set([0x84, 0x85, 0x86, 0x87, 0x8c]);

/** A connection on its way: the client at once (messages may follow the CONNACK in the same read). */
export interface OpenSession {
  readonly client: MqttClient;
  /** Resolves once the broker accepted; rejects with why it did not. */
  readonly accepted: Promise<IConnackPacket>;
}

/**
 * Connects; `accepted` resolves once the broker accepted (CONNACK 0), or rejects with the reason in
 * words, prefixed with the endpoint and never holding the password. The client keeps an error
 * listener for its whole life, so a late error never throws out of an event emitter.
 */
export function openSession(endpoint: MqttEndpoint, options: SessionOptions): OpenSession {
  const client = connect(endpoint.url, clientOptions(endpoint, options));
  const onMessage = options.onMessage;
  client.handleMessage =
    onMessage === undefined
      ? holdEveryMessage
      : (packet, done) => {
          const hold = onMessage(packet);
          const next = () => (packet.qos === 0 ? done() : done(HELD));
          if (hold === undefined) next();
          else hold.then(next, next);
        };
  const accepted = new Promise<IConnackPacket>((resolve, reject) => {
    let failure: Error | undefined;
    client.on('error', (err) => {
      const words = describeError(err, endpoint);
      failure ??=
        err instanceof ErrorWithReasonCode ? new MqttRefusedError(words, err.code) : new Error(words);
    });
    const closed = () => {
      client.end(true);
      reject(failure ?? new Error(`${endpoint.source}: the connection closed before the broker accepted it`));
    };
    client.once('close', closed);
    client.once('connect', (connack) => {
      client.off('close', closed);
      resolve(connack);
    });
  });
  return { client, accepted };
}

function clientOptions(endpoint: MqttEndpoint, options: SessionOptions): IClientOptions {
  return {
    protocolVersion: 5,
    clientId: options.clientId,
    clean: options.clean,
    reconnectPeriod: 0,
    resubscribe: false,
    // Seconds without a packet before a PINGREQ; a connection silent for 1.5 times that is dead.
    keepalive: 30,
    connectTimeout: 10_000,
    ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
    ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
    properties: {
      sessionExpiryInterval: options.clean ? 0 : SESSION_NEVER_EXPIRES,
      receiveMaximum: options.receiveMaximum ?? 64,
      maximumPacketSize: MAX_PACKET_BYTES,
    },
  };
}

/** A subscription the broker (or the client, for a malformed filter) refused: the filters named. */
export class SubscribeRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubscribeRefusedError';
  }
}

/**
 * Subscribes to the filters at `qos`, those another one covers left out (see filters.ts). Retain
 * handling 1: a retained message comes only when the subscription is new, not again on every
 * reconnect of the persistent session. Resolves with the filters subscribed.
 */
export async function subscribeAll(
  client: MqttClient,
  filters: readonly string[],
  qos: 0 | 1,
): Promise<string[]> {
  checkFilters(filters);
  const unique = subscriptionFilters(filters);
  try {
    await client.subscribeAsync(Object.fromEntries(unique.map((filter) => [filter, { qos, rh: 1 }])));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const granted = (err as { packet?: { granted?: readonly number[] } }).packet?.granted;
    if (granted === undefined) throw err;
    const refused = unique.filter((_, i) => (granted[i] ?? 0) >= 0x80);
    throw new SubscribeRefusedError(`the broker refused the subscription to ${quoted(refused)}: ${message}`);
  }
  return unique;
}

/** Throws SubscribeRefusedError naming the filters that are not valid MQTT topic filters. */
export function checkFilters(filters: readonly string[]): void {
  const invalid = filters.filter((filter) => !validFilter(filter));
  if (invalid.length > 0)
    throw new SubscribeRefusedError(`not a valid MQTT topic filter: ${quoted(invalid)}`);
}

function quoted(filters: readonly string[]): string {
  return filters.map((f) => JSON.stringify(f)).join(', ');
}

/**
 * Sends the PUBACK for a QoS 1 message on the connection it came on. MQTT.js has no public call
 * for a deferred acknowledgement (its handleMessage and customHandleAcks both hold the whole
 * connection's reading until they answer, so one store at a time, and keep-alive answers wait
 * too), so this writes the packet through the client's own `_sendPacket`; the version is pinned
 * and a test proves the PUBACK is withheld until this call. A closed connection sends nothing:
 * the broker gives the message again to the next one.
 */
export function sendPuback(client: MqttClient, messageId: number): void {
  if (!client.connected) return;
  const internal = client as unknown as {
    _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb: () => void): void;
  };
  internal._sendPacket({ cmd: 'puback', messageId }, () => {});
}
