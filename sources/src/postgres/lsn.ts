/**
 * WAL positions (LSNs): 64-bit byte offsets that PostgreSQL writes as two hex halves, `16/B374D848`.
 * Kept as bigint, since a busy server passes 2^53 bytes of WAL.
 */
export type Lsn = bigint;

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function parseLsn(text: string): Lsn {
  const match = LSN_PATTERN.exec(text.trim());
  if (match === null) throw new Error(`not a WAL position: ${JSON.stringify(text.slice(0, 40))}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 UTC. */
const PG_EPOCH_US = 946_684_800_000_000n;

/** A PostgreSQL timestamp (µs since 2000-01-01) as epoch milliseconds. */
export function pgTimeToMs(micros: bigint): number {
  return Number((micros + PG_EPOCH_US) / 1000n);
}

/** Epoch milliseconds as a PostgreSQL timestamp, for the standby status update. */
export function msToPgTime(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1000n - PG_EPOCH_US;
}
