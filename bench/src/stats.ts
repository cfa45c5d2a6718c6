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

/** The samples' percentiles named `p<n>` for each n of `ps`, and their largest, as the results keep a spread. */
export function distribution<P extends number>(
  samples: readonly number[],
  ...ps: readonly P[]
): { readonly [K in `p${P}`]: number } & { readonly max: number } {
  const at = Object.fromEntries(ps.map((p) => [`p${p}`, percentile(samples, p)]));
  return { ...at, max: Math.max(...samples) } as { [K in `p${P}`]: number } & { max: number };
}

/** `value` to `decimals` places, as the results' JSON keeps figures. */
export function round(value: number, decimals = 2): number {
  return Number(value.toFixed(decimals));
}
