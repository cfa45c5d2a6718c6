import { createHash, timingSafeEqual } from 'node:crypto';
import type { ResolvedSource } from '@nimbus/api';
import {
  PushRefusedError,
  type PushedRequest,
  type PushedSource,
  type SecretReader,
  SourceConfigError,
  type SourceEvent,
} from '../source.js';
import { targetOf } from './config.js';
import { filterOf, wants } from './filter.js';
import { parseNotification } from './notification.js';
import { objectEvent } from './object-event.js';

/**
 * S3 event notifications a store pushes to the gateway (mode notify). The store proves itself with
 * the trigger's notifyToken, as `Authorization: Bearer <token>` or `?token=<token>` (stores whose
 * webhook cannot set headers put it in the URL); only then is the body read. Records of other
 * buckets, keys outside the prefix and suffix, and changes the trigger does not want are dropped:
 * whoever holds one trigger's token can raise no event of another bucket. A notification carries
 * no content type, so these events have none: a HeadObject each would put a request to the store
 * on the path of the gateway's answer (the poller, which has the time, does make one).
 */
export const s3Pushed: PushedSource<'s3'> = {
  async accept(source, request, secrets, now) {
    await checkToken(source, request, secrets);
    if (request.method !== 'POST') throw new PushRefusedError(405, 'S3 event notifications are POSTed');
    const target = targetOf(source);
    const filter = filterOf(source.spec);
    const events: SourceEvent[] = [];
    for (const change of parseNotification(request.body, now)) {
      if (wants(filter, change.kind, change.bucket, change.key))
        events.push(objectEvent(target.source, change));
    }
    return events;
  },
};

async function checkToken(
  source: ResolvedSource<'s3'>,
  request: PushedRequest,
  secrets: SecretReader,
): Promise<void> {
  const ref = source.spec.notifyToken;
  // No token configured: nobody can prove anything, so nothing is taken (never an open endpoint).
  if (ref === undefined)
    throw new PushRefusedError(401, 'the trigger has no notifyToken: notifications are refused');
  const expected = await secrets.read(ref).catch((err: unknown) => {
    // The sender learns only that the trigger cannot take notifications now; the status says why.
    if (err instanceof SourceConfigError)
      throw new PushRefusedError(
        503,
        'the trigger cannot take notifications now: its notifyToken is not readable',
      );
    throw err;
  });
  const bearer = /^Bearer +(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
  const given = bearer ?? request.query.get('token') ?? undefined;
  if (given === undefined || expected === '' || !sameSecret(given, expected))
    throw new PushRefusedError(401, 'missing or wrong token');
}

/** Compares in constant time: both are hashed first, so neither their content nor their lengths leak. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
