import { withoutCredentials } from '@nimbus/api/credential-headers';
import type { DeadLetter, DeadLetterQuery, NewDeadLetter } from './dead-letter-store.js';
import { InvalidStoreInputError } from './errors.js';
import { checkFunctionName, checkId } from './keys.js';
import { encodeBody } from './stored-body.js';

const MAX_REASON_CHARS = 256;
const MAX_LAST_ERROR_CHARS = 8 * 1024;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;
const MEMBER = /^\d{16}:/;

/**
 * The entry as stored, checked, with its body encoded up to `maxBodyBytes` (a redrive must send it
 * unchanged, so a cut body says so) and without credential headers (named in removedHeaders).
 */
export function toDeadLetter(input: NewDeadLetter, maxBodyBytes: number): DeadLetter {
  checkId('dead-letter id', input.id);
  checkFunctionName(input.namespace, input.function);
  if (typeof input.reason !== 'string' || input.reason === '' || input.reason.length > MAX_REASON_CHARS)
    throw new InvalidStoreInputError(`a dead letter's reason must be 1-${MAX_REASON_CHARS} characters`);
  if (typeof input.lastError !== 'string')
    throw new InvalidStoreInputError("a dead letter's lastError must be a string");
  for (const [name, value] of [
    ['attempts', input.attempts],
    ['failedAt', input.failedAt],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new InvalidStoreInputError(
        `a dead letter's ${name} must be a whole number of at least 0, got ${value}`,
      );
  }
  const { headers, body, removedHeaders = [] } = input.request ?? {};
  if (
    typeof headers !== 'object' ||
    headers === null ||
    Object.values(headers).some((v) => typeof v !== 'string')
  )
    throw new InvalidStoreInputError("a dead letter's request headers must be an object of strings");
  if (typeof body !== 'string' && !(body instanceof Uint8Array))
    throw new InvalidStoreInputError("a dead letter's request body must be a string or bytes");
  if (!Array.isArray(removedHeaders) || removedHeaders.some((v) => typeof v !== 'string'))
    throw new InvalidStoreInputError("a dead letter's removedHeaders must be a list of header names");
  const encoded = encodeBody(body, maxBodyBytes);
  // A caller's credentials never sit in a dead letter for its retention: only that they were there.
  const { kept, removed } = withoutCredentials(headers);
  const gone = [...new Set([...removedHeaders, ...removed])];
  return {
    id: input.id,
    namespace: input.namespace,
    function: input.function,
    reason: input.reason,
    lastError: input.lastError.slice(0, MAX_LAST_ERROR_CHARS),
    attempts: input.attempts,
    request: {
      headers: kept,
      body: encoded.body,
      encoding: encoded.encoding,
      truncated: encoded.truncated,
      size: encoded.size,
      ...(gone.length === 0 ? {} : { removedHeaders: gone }),
    },
    failedAt: input.failedAt,
  };
}

/**
 * The sort key of an entry, `<failedAt, 16 digits>:<id>`: its lexical order is newest-last,
 * so listings read it backwards, and a page cursor is the last member seen.
 */
export function deadLetterMember(entry: Pick<DeadLetter, 'failedAt' | 'id'>): string {
  return `${String(entry.failedAt).padStart(16, '0')}:${entry.id}`;
}

export interface CheckedQuery {
  namespace: string | undefined;
  fn: string | undefined;
  limit: number;
  /** Entries come strictly before this member; undefined: from the newest. */
  after: string | undefined;
}

export function checkQuery(query: DeadLetterQuery): CheckedQuery {
  const { namespace, function: fn, limit = DEFAULT_PAGE_SIZE, cursor } = query;
  if (fn !== undefined && namespace === undefined)
    throw new InvalidStoreInputError('listing dead letters by function needs its namespace too');
  if (namespace !== undefined) checkFunctionName(namespace, fn ?? 'any');
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE)
    throw new InvalidStoreInputError(`a dead-letter page holds 1-${MAX_PAGE_SIZE} entries, got ${limit}`);
  let after: string | undefined;
  if (cursor !== undefined) {
    after = Buffer.from(cursor, 'base64url').toString('utf8');
    if (!MEMBER.test(after))
      throw new InvalidStoreInputError('the dead-letter cursor is not one this store gave out');
  }
  return { namespace, fn, limit, after };
}

export function encodeCursor(member: string): string {
  return Buffer.from(member, 'utf8').toString('base64url');
}
