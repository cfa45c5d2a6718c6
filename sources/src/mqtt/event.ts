import { createHash, randomUUID } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import type { SourceEvent } from '../source.js';

export const MQTT_MESSAGE_TYPE = 'dev.nimbus.mqtt.message';

/** What an event takes from the reader besides the message itself. */
export interface MessageOrigin {
  /** `mqtt://host:port`, no login. */
  readonly source: string;
  /** The trigger's client id: two triggers on one topic are two sessions, and must not share ids. */
  readonly clientId: string;
}

/**
 * The message as an event. `time` is when the reader received it: MQTT carries no publish time
 * (MQTT 5's message expiry says how long it may live, not when it was born).
 */
export function messageEvent(packet: IPublishPacket, origin: MessageOrigin, receivedAt: number): SourceEvent {
  const topic = packet.topic;
  const data = toBytes(packet.payload);
  return {
    id: messageId(packet, origin, data),
    type: MQTT_MESSAGE_TYPE,
    source: origin.source,
    subject: topic,
    time: receivedAt,
    contentType: contentTypeOf(packet.properties?.contentType, data),
    data,
    extensions: {
      topic: printable(topic),
      qos: String(packet.qos),
      ...(packet.retain ? { retain: 'true' } : {}),
    },
  };
}

/**
 * The event id, the JetStream deduplication key. MQTT has no message id that lasts: what the broker
 * keeps when it gives an unacknowledged QoS 1 message again (on the next connection of the same
 * session) is the topic, the payload and the packet id (it must resend with the original one, MQTT
 * 5, 4.4), while the DUP flag and the time it arrives change. So the id is the packet id and a hash
 * of the trigger's client id, the topic and the payload, and a redelivery stores as the same event.
 *
 * The trade-off: packet ids are reused once acknowledged (65,535 of them, and a broker restart may
 * start counting again), so two distinct messages with the same topic and the same payload that
 * happen to get the same packet id within JetStream's deduplication window are taken as one and the
 * second is dropped. Leaving the packet id out would merge every repeat of a payload (a sensor
 * sending "on" twice); leaving the payload out would merge any two messages whose ids wrap around.
 * QoS 0 messages are never given again, so theirs is random.
 */
export function messageId(packet: IPublishPacket, origin: MessageOrigin, data: Uint8Array): string {
  if (packet.qos === 0 || packet.messageId === undefined) return `mqtt-q0-${randomUUID()}`;
  const hash = createHash('sha256')
    .update(origin.clientId)
    .update('\0')
    .update(packet.topic)
    .update('\0')
    .update(data)
    .digest('hex')
    .slice(0, 40);
  return `mqtt-${packet.messageId}-${hash}`;
}

/** type/subtype with optional parameters, all printable ASCII: what may travel as a header. */
const MEDIA_TYPE = /^[A-Za-z0-9][\w!#$&^.+-]*\/[A-Za-z0-9][\w!#$&^.+-]*(\s*;[\x20-\x7e]*)?$/;

/**
 * MQTT 5's content type when the publisher gave a sane one; else JSON when the payload parses as
 * JSON; else application/octet-stream. A content type with control characters (a publisher trying
 * to add headers) or of absurd length is ignored.
 */
export function contentTypeOf(declared: string | undefined, data: Uint8Array): string {
  if (declared !== undefined && declared.length <= 127 && MEDIA_TYPE.test(declared)) return declared;
  return isJson(data) ? 'application/json' : 'application/octet-stream';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isJson(data: Uint8Array): boolean {
  if (data.length === 0) return false;
  try {
    JSON.parse(utf8.decode(data));
    return true;
  } catch {
    return false;
  }
}

/**
 * A topic as an extension value, which must be printable ASCII: `%` and every byte outside
 * 0x20-0x7e percent-encoded (UTF-8), so a topic in any script reads back with decodeURIComponent.
 */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x24\x26-\x7e]+/g, (run) =>
    Array.from(
      Buffer.from(run, 'utf8'),
      (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    ).join(''),
  );
}

function toBytes(payload: Buffer | string): Uint8Array {
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}
