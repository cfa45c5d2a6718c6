import { openSync, readSync } from 'node:fs';

/** Fills `target` with cryptographically secure random bytes. */
export type RandomSource = (target: Buffer) => void;

const POOL_BYTES = 4096;

const DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Where the two hex digits of each of the 16 bytes go in `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
const DIGIT_POSITIONS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/**
 * RFC 4122 version-4 UUIDs drawn from a pool of random bytes, refilled 256 ids at a time.
 * The source defaults to /dev/urandom (the kernel CSPRNG that node:crypto draws from too): loading
 * node:crypto costs ~5 ms, which would land on the first invocation of every cold replica.
 */
export function createUuidGenerator(source: RandomSource = readUrandom): () => string {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  let offset = POOL_BYTES;
  // The digits are written into one reused buffer and read out as one string: a third of the time
  // of toString('hex') plus slices and concatenation, and a single allocation.
  const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');
  return () => {
    if (offset + 16 > POOL_BYTES) {
      source(pool);
      offset = 0;
    }
    pool[offset + 6] = ((pool[offset + 6] ?? 0) & 0x0f) | 0x40;
    pool[offset + 8] = ((pool[offset + 8] ?? 0) & 0x3f) | 0x80;
    for (let i = 0; i < 16; i++) {
      const byte = pool[offset + i] ?? 0;
      const at = DIGIT_POSITIONS[i] ?? 0;
      text[at] = DIGITS[byte >> 4] ?? 0;
      text[at + 1] = DIGITS[byte & 15] ?? 0;
    }
    offset += 16;
    return text.toString('latin1');
  };
}

/** Kept open once opened: an open() and close() for every refill cost more than the read. */
let urandom: number | undefined;

function readUrandom(target: Buffer): void {
  try {
    urandom ??= openSync('/dev/urandom', 'r');
    let filled = 0;
    while (filled < target.length) filled += readSync(urandom, target, filled, target.length - filled, null);
  } catch {
    // No /dev/urandom (Windows): Web Crypto, which loads node:crypto on first use.
    globalThis.crypto.getRandomValues(target);
  }
}
