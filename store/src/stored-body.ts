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

/** Keeps at most `maxBytes` of the body; a cut through a UTF-8 character drops its partial bytes. */
export function encodeBody(body: Uint8Array | string, maxBytes = Number.POSITIVE_INFINITY): EncodedBody {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const truncated = bytes.byteLength > maxBytes;
  let kept = truncated ? bytes.subarray(0, maxBytes) : bytes;
  let text = asUtf8(kept);
  // A cut can split a multi-byte character (at most 3 trailing bytes of it).
  for (let drop = 1; text === undefined && truncated && drop <= 3 && drop <= kept.byteLength; drop++) {
    text = asUtf8(kept.subarray(0, kept.byteLength - drop));
    if (text !== undefined) kept = kept.subarray(0, kept.byteLength - drop);
  }
  if (text !== undefined) return { body: text, encoding: 'utf8', size: bytes.byteLength, truncated };
  return {
    body: Buffer.from(kept).toString('base64'),
    encoding: 'base64',
    size: bytes.byteLength,
    truncated,
  };
}

/** The bytes of a stored body. */
export function bodyBytes(stored: { body: string; encoding: BodyEncoding }): Buffer {
  return Buffer.from(stored.body, stored.encoding === 'base64' ? 'base64' : 'utf8');
}
