import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Headers } from '@nimbus/bus';

/**
 * The CloudEvent attributes the gateway vouches for on a message it puts into the events stream:
 * who published it (`ce-source`), its type, what caused it and how many destinations it has
 * travelled. Apps logged in as NATS's publisher user can write any header too, so the attributes
 * count only under a seal: an HMAC of them and the message's subject and id, under a key only the
 * gateways hold (the platform's state key). A message without a valid seal is delivered with the
 * attributes every plain NATS message gets, whatever headers it carries.
 */
export const SEALED_ATTRIBUTES = ['ce-source', 'ce-type', 'ce-causationid', 'ce-nimbushops'] as const;

export type SealedAttributes = Partial<Record<(typeof SEALED_ATTRIBUTES)[number], string>>;

/** The header carrying the seal. */
export const SEAL_HEADER = 'Nimbus-Event-Seal';

function mac(key: string, subject: string, id: string, attributes: SealedAttributes): string {
  const fields = [subject, id, ...SEALED_ATTRIBUTES.map((name) => attributes[name] ?? '')];
  return createHmac('sha256', key)
    .update(`nimbus-event-v1\n${JSON.stringify(fields)}`)
    .digest('base64url');
}

/** The headers to publish: the attributes and their seal. */
export function sealedHeaders(
  key: string,
  subject: string,
  id: string,
  attributes: SealedAttributes,
): Record<string, string> {
  return { ...attributes, [SEAL_HEADER]: mac(key, subject, id, attributes) };
}

/** The attributes of a delivered message the gateway sealed; none when the seal is missing or wrong. */
export function openSeal(
  key: string,
  message: { readonly subject: string; readonly id: string; readonly headers: Headers },
): SealedAttributes {
  const seal = message.headers[SEAL_HEADER];
  if (seal === undefined) return {};
  const attributes: SealedAttributes = {};
  for (const name of SEALED_ATTRIBUTES) {
    const value = message.headers[name];
    if (value !== undefined) attributes[name] = value;
  }
  const expected = Buffer.from(mac(key, message.subject, message.id, attributes));
  const given = Buffer.from(seal);
  return given.length === expected.length && timingSafeEqual(given, expected) ? attributes : {};
}
