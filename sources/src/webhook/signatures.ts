import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookSignature } from '@nimbus/api';
import { PushRefusedError, type PushedRequest } from '../source.js';

/** What a verified request says of itself: its id, when it was signed, and what kind of event it is. */
export interface Verified {
  /** The sender's id for the delivery (stable when it redelivers), or a digest of what was signed. */
  readonly id: string;
  /** When it was signed (epoch ms); undefined for a scheme without a timestamp (github). */
  readonly signedAt: number | undefined;
  /** The sender's event type where the scheme carries one (X-GitHub-Event, a Stripe event's type). */
  readonly eventType: string | undefined;
}

const refuse = (message: string): never => {
  throw new PushRefusedError(401, message);
};

function hmac(key: Buffer | string, content: Buffer): Buffer {
  return createHmac('sha256', key).update(content).digest();
}

/** Constant-time comparison of a MAC the sender gave (in `encoding`) with the one expected. */
function matches(given: string, expected: Buffer, encoding: 'hex' | 'base64'): boolean {
  const pattern = encoding === 'hex' ? /^[0-9a-fA-F]{64}$/ : /^[A-Za-z0-9+/]{43}=$/;
  if (!pattern.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, encoding), expected);
}

function header(request: PushedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return value === undefined || value === '' ? undefined : value;
}

/** Seconds since the epoch, as every timestamped scheme sends them; refused otherwise. */
function seconds(text: string | undefined, what: string): number {
  if (text === undefined) return refuse(`${what} is missing`);
  if (!/^\d{1,12}$/.test(text)) return refuse(`${what} is not a Unix time in seconds`);
  return Number(text) * 1000;
}

const digest = (parts: readonly (string | Buffer)[]): string => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return `sha256-${hash.digest('base64url')}`;
};

const ID = /^[\x21-\x7e]{1,128}$/;

/** Standard Webhooks: `webhook-signature: v1,<base64>` over `<id>.<timestamp>.<body>`, key from `whsec_<base64>`. */
function standard(request: PushedRequest, secret: string): Verified {
  const id = header(request, 'webhook-id') ?? refuse('webhook-id is missing');
  if (!ID.test(id)) refuse('webhook-id is not 1-128 printable characters');
  const timestamp = header(request, 'webhook-timestamp');
  const signedAt = seconds(timestamp, 'webhook-timestamp');
  const signatures = header(request, 'webhook-signature') ?? refuse('webhook-signature is missing');
  const key = secret.startsWith('whsec_')
    ? Buffer.from(secret.slice(6), 'base64')
    : Buffer.from(secret, 'utf8');
  const expected = hmac(key, Buffer.concat([Buffer.from(`${id}.${timestamp}.`), request.body]));
  const ok = signatures
    .split(' ')
    .some((entry) => entry.startsWith('v1,') && matches(entry.slice(3), expected, 'base64'));
  if (!ok) refuse("webhook-signature does not match the body with the trigger's secret");
  return { id, signedAt, eventType: undefined };
}

/** GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body; the delivery's GUID as its id. */
function github(request: PushedRequest, secret: string): Verified {
  const signature = header(request, 'x-hub-signature-256') ?? refuse('X-Hub-Signature-256 is missing');
  if (!signature.startsWith('sha256=') || !matches(signature.slice(7), hmac(secret, request.body), 'hex'))
    refuse("X-Hub-Signature-256 does not match the body with the trigger's secret");
  const delivery = header(request, 'x-github-delivery');
  const id = delivery !== undefined && ID.test(delivery) ? delivery : digest([request.body]);
  const event = header(request, 'x-github-event');
  return { id, signedAt: undefined, eventType: event !== undefined && ID.test(event) ? event : undefined };
}

/** Stripe: `Stripe-Signature: t=<seconds>,v1=<hex>[,v1=…]` over `<t>.<body>`; the event's own id. */
function stripe(request: PushedRequest, secret: string): Verified {
  const value = header(request, 'stripe-signature') ?? refuse('Stripe-Signature is missing');
  const parts = value.split(',').map((part) => part.trim().split('=', 2) as [string, string | undefined]);
  const timestamp = parts.find(([k]) => k === 't')?.[1];
  const signedAt = seconds(timestamp, 'the t= of Stripe-Signature');
  const expected = hmac(secret, Buffer.concat([Buffer.from(`${timestamp}.`), request.body]));
  if (!parts.some(([k, v]) => k === 'v1' && v !== undefined && matches(v, expected, 'hex')))
    refuse("Stripe-Signature does not match the body with the trigger's secret");
  let id: string | undefined;
  let eventType: string | undefined;
  try {
    const event = JSON.parse(request.body.toString('utf8')) as { id?: unknown; type?: unknown };
    if (typeof event.id === 'string' && ID.test(event.id)) id = event.id;
    if (typeof event.type === 'string' && ID.test(event.type)) eventType = event.type;
  } catch {
    // Signed but not JSON: still the sender's; its id is a digest.
  }
  return { id: id ?? digest([timestamp ?? '', request.body]), signedAt, eventType };
}

/** Plain HMAC: `X-Signature-256: sha256=<hex>` over `<X-Timestamp>.<body>`; `X-Webhook-Id` as its id when sent. */
function plain(request: PushedRequest, secret: string): Verified {
  const timestamp = header(request, 'x-timestamp');
  const signedAt = seconds(timestamp, 'X-Timestamp');
  const signature = header(request, 'x-signature-256') ?? refuse('X-Signature-256 is missing');
  const expected = hmac(secret, Buffer.concat([Buffer.from(`${timestamp}.`), request.body]));
  if (!signature.startsWith('sha256=') || !matches(signature.slice(7), expected, 'hex'))
    refuse("X-Signature-256 does not match the timestamp and body with the trigger's secret");
  const given = header(request, 'x-webhook-id');
  const id = given !== undefined && ID.test(given) ? given : digest([timestamp ?? '', request.body]);
  return { id, signedAt, eventType: undefined };
}

const SCHEMES: Readonly<Record<WebhookSignature, (request: PushedRequest, secret: string) => Verified>> = {
  standard,
  github,
  stripe,
  'hmac-sha256': plain,
};

/**
 * Checks a request's signature under `scheme` and, for a scheme with a timestamp, that it was
 * signed within `toleranceMs` of `now` (an old request replayed is refused). Throws
 * PushRefusedError(401) naming what is wrong; never says what the signature should have been.
 */
export function verifySignature(
  scheme: WebhookSignature,
  request: PushedRequest,
  secret: string,
  now: number,
  toleranceMs: number,
): Verified {
  const verified = SCHEMES[scheme](request, secret);
  if (verified.signedAt !== undefined && Math.abs(now - verified.signedAt) > toleranceMs)
    refuse(
      `the request was signed ${Math.round((now - verified.signedAt) / 1000)} s from now, outside the tolerance of ${Math.round(toleranceMs / 1000)} s (a replay?)`,
    );
  return verified;
}
