import { closeSync, openSync, readSync } from 'node:fs';

/** Fills `target` with cryptographically secure random bytes. */
export type RandomSource = (target: Buffer) => void;

const POOL_BYTES = 4096;

/**
 * RFC 4122 version-4 UUIDs drawn from a pool of random bytes, refilled 256 ids at a time.
 * The source defaults to /dev/urandom (the kernel CSPRNG that node:crypto draws from too): loading
 * node:crypto costs ~5 ms, which would land on the first invocation of every cold replica.
 */
export function createUuidGenerator(source: RandomSource = defaultSource()): () => string {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  let offset = POOL_BYTES;
  return () => {
    if (offset + 16 > POOL_BYTES) {
      source(pool);
      offset = 0;
    }
    const b = pool.subarray(offset, offset + 16);
    offset += 16;
    b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
    b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
    const hex = b.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
}

function defaultSource(): RandomSource {
  return (target) => {
    try {
      const fd = openSync('/dev/urandom', 'r');
      try {
        let filled = 0;
        while (filled < target.length) filled += readSync(fd, target, filled, target.length - filled, null);
      } finally {
        closeSync(fd);
      }
    } catch {
      // No /dev/urandom (Windows): Web Crypto, which loads node:crypto on first use.
      globalThis.crypto.getRandomValues(target);
    }
  };
}
