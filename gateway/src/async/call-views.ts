import { createHash, randomFillSync, timingSafeEqual } from 'node:crypto';
import { isCredentialHeader } from '@nimbus/api/credential-headers';
import type { CallRecord, DeadLetter } from '@nimbus/store';
import { DEAD_LETTER_PSEUDO } from './call-outcome.js';

/*
 * Who may see what of a call. A callback URL is the caller's own, and often carries a secret (a
 * signed query, userinfo): callers without the admin key never see one, and the admin API shows
 * where callbacks go with the secret parts masked. The cancel token's hash is shown to nobody.
 * Credential headers (Authorization, Cookie…) are not stored at all; an entry stored before that
 * (a dead letter lives 7 days) shows them masked. Pure.
 */

const MASK = '***';

/** A call record as any caller may see it: no callback URL nor its error (which names its host), no token hash. */
export function publicCallView(
  record: CallRecord,
): Omit<CallRecord, 'callbackUrl' | 'callbackError' | 'cancelTokenHash'> {
  const { callbackUrl: _url, callbackError: _error, cancelTokenHash: _hash, ...rest } = record;
  return rest;
}

/** A call record for the admin API: the callback URL with its userinfo and query values masked, credentials masked. */
export function adminCallView(record: CallRecord): Omit<CallRecord, 'cancelTokenHash'> {
  const { cancelTokenHash: _hash, ...rest } = record;
  const view =
    rest.result === undefined
      ? rest
      : { ...rest, result: { ...rest.result, headers: maskCredentials(rest.result.headers) } };
  return view.callbackUrl === undefined ? view : { ...view, callbackUrl: maskUrl(view.callbackUrl) };
}

/** A dead letter for the admin API: its callback pseudo-header masked as a record's is, credentials masked. */
export function adminDeadLetterView(letter: DeadLetter): DeadLetter {
  const headers = maskCredentials(letter.request.headers);
  const url = headers[DEAD_LETTER_PSEUDO.callbackUrl];
  if (url !== undefined) headers[DEAD_LETTER_PSEUDO.callbackUrl] = maskUrl(url);
  return { ...letter, request: { ...letter.request, headers } };
}

/** A copy with every credential header's value masked. */
function maskCredentials(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = isCredentialHeader(name) ? MASK : value;
  return out;
}

/**
 * The URL with userinfo and every query value replaced by `***` and the fragment dropped: the
 * host, path and query names stay, enough to tell where callbacks go.
 */
export function maskUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return MASK;
  }
  const userinfo = url.username !== '' || url.password !== '' ? `${MASK}@` : '';
  const query = [...url.searchParams.keys()].map((name) => `${encodeURIComponent(name)}=${MASK}`).join('&');
  return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query === '' ? '' : `?${query}`}`;
}

const TOKEN_BYTES = 32;
/**
 * Cancel tokens are cut from a pool filled 256 at a time, as node:crypto's randomUUID does: one
 * randomBytes call per accepted call cost 2 µs, about 2% of the gateway's CPU at its async peak.
 * The bytes are the same CSPRNG's; each token's are used once and never again.
 */
const tokenPool = Buffer.alloc(TOKEN_BYTES * 256);
let tokenOffset = tokenPool.length;

/** A new cancel token: 256 random bits, URL-safe. */
export function newCancelToken(): string {
  if (tokenOffset === tokenPool.length) {
    randomFillSync(tokenPool);
    tokenOffset = 0;
  }
  const token = tokenPool.toString('base64url', tokenOffset, tokenOffset + TOKEN_BYTES);
  tokenOffset += TOKEN_BYTES;
  return token;
}

/** What the call record keeps of a cancel token. */
export function hashCancelToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether `token` is the one whose hash the record keeps; in constant time. */
export function cancelTokenMatches(token: string, hash: string | undefined): boolean {
  if (hash === undefined) return false;
  const given = Buffer.from(hashCancelToken(token), 'hex');
  const kept = Buffer.from(hash, 'hex');
  return given.length === kept.length && timingSafeEqual(given, kept);
}
