/**
 * Exponential backoff with full jitter: attempt 1 waits up to `baseMs`, each later attempt up to
 * twice the one before, never more than `capMs`. `random` is injected for tests.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
