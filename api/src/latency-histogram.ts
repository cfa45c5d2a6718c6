/**
 * Latencies counted in fixed, log-spaced buckets, so that counts from many gateways and many
 * report intervals add up exactly and a quantile can be read from the sum: what a rollout needs to
 * compare two versions' p99 over the same window. Each bucket is 2^(1/4) (about 19 %) wider than
 * the one below, from 0.25 ms to beyond an hour; a quantile is interpolated within its bucket.
 */

const MIN_MS = 0.25;
const PER_DOUBLING = 4;
/** 0.25 ms · 2^(100/4) is about 2.3 hours: every timeout Nimbus allows fits below it. */
export const BUCKET_COUNT = 101;

/** The bucket a latency falls in: 0 for MIN_MS or less, BUCKET_COUNT - 1 for anything too long. Pure. */
export function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const index = Math.ceil(Math.log2(ms / MIN_MS) * PER_DOUBLING - 1e-9);
  return Math.min(index, BUCKET_COUNT - 1);
}

/** The upper bound of bucket `index` in milliseconds. Pure. */
export function bucketUpperMs(index: number): number {
  return MIN_MS * 2 ** (index / PER_DOUBLING);
}

/** Bucket index → count, only the buckets that hold any: how a histogram travels in a report. */
export type SparseBuckets = Readonly<Record<string, number>>;

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;

  get count(): number {
    return this.total;
  }

  record(ms: number): void {
    const index = bucketOf(ms);
    this.counts[index] = (this.counts[index] as number) + 1;
    this.total += 1;
  }

  /** Adds counts sent by another histogram; entries that are not a bucket and a count are skipped. */
  add(buckets: SparseBuckets): void {
    for (const [key, count] of Object.entries(buckets)) {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0 || index >= BUCKET_COUNT) continue;
      if (!Number.isFinite(count) || count <= 0) continue;
      this.counts[index] = (this.counts[index] as number) + count;
      this.total += count;
    }
  }

  /**
   * The latency below which a fraction `q` of those recorded fell, interpolated within its
   * bucket; undefined when nothing was recorded.
   */
  quantile(q: number): number | undefined {
    if (this.total === 0) return undefined;
    const rank = Math.min(Math.max(q, 0), 1) * this.total;
    let below = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const count = this.counts[i] as number;
      if (count === 0) continue;
      if (below + count >= rank) {
        const lower = i === 0 ? 0 : bucketUpperMs(i - 1);
        return lower + (bucketUpperMs(i) - lower) * ((rank - below) / count);
      }
      below += count;
    }
    return bucketUpperMs(BUCKET_COUNT - 1);
  }

  /** The buckets that hold any, for a report. */
  toSparse(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < BUCKET_COUNT; i++)
      if ((this.counts[i] as number) > 0) out[i] = this.counts[i] as number;
    return out;
  }
}
