/** How a body is kept in a record: as text when it is valid UTF-8, as base64 otherwise. */
export type BodyEncoding = 'utf8' | 'base64';

export interface EncodedBody {
  body: string;
  encoding: BodyEncoding;
  /** The size of the whole body in bytes, before any truncation. */
  size: number;
  truncated: boolean;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function asUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Where a cut at the end of `bytes` should fall so as not to split a UTF-8 character. */
function characterBoundary(bytes: Uint8Array): number {
  let start = bytes.byteLength - 1;
  let continuation = 0;
  while (start >= 0 && continuation < 3 && ((bytes[start] ?? 0) & 0xc0) === 0x80) {
    start--;
    continuation++;
  }
  if (start < 0) return bytes.byteLength;
  const lead = bytes[start] ?? 0;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return length > continuation + 1 ? start : bytes.byteLength;
}

/**
 * Keeps at most `maxBytes` of the body; a cut through a UTF-8 character drops its partial bytes.
 * `wholeSize`: the size of the whole body when `body` is only its start (it is then truncated).
 */
export function encodeBody(
  body: Uint8Array | string,
  maxBytes = Number.POSITIVE_INFINITY,
  wholeSize?: number,
): EncodedBody {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const size = Math.max(wholeSize ?? 0, bytes.byteLength);
  const cut = bytes.byteLength > maxBytes ? bytes.subarray(0, maxBytes) : bytes;
  const truncated = size > cut.byteLength;
  const text = asUtf8(truncated ? cut.subarray(0, characterBoundary(cut)) : cut);
  if (text !== undefined) return { body: text, encoding: 'utf8', size, truncated };
  return { body: Buffer.from(cut).toString('base64'), encoding: 'base64', size, truncated };
}

/** The bytes of a stored body. */
export function bodyBytes(stored: { body: string; encoding: BodyEncoding }): Buffer {
  return Buffer.from(stored.body, stored.encoding === 'base64' ? 'base64' : 'utf8');
}
