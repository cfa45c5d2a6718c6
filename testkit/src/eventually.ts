/**
 * Polls `probe` until it gives a value other than undefined, and fails after `ms` naming what
 * it waited for. Tests wait for conditions this way, never with a fixed sleep.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 5_000,
  what = 'a condition',
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 20));
  }
}
