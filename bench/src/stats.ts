/**
 * The p-th percentile (0–100) of the samples, interpolating linearly between the two nearest
 * ranks (numpy's default), so the 50th of an even count is the mean of the middle two.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const lower = sorted[low] as number;
  return lower + ((sorted[high] as number) - lower) * (rank - low);
}

/** `value` to `decimals` places, as the results' JSON keeps figures. */
export function round(value: number, decimals = 2): number {
  return Number(value.toFixed(decimals));
}
