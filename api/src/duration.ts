/** Durations in the Go form Kubernetes users know: `500ms`, `30s`, `1m30s`, `2h`. */

export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const WHOLE = new RegExp(DURATION_PATTERN);

/** Milliseconds in a duration string; throws on anything that is not one. */
export function parseDuration(text: string): number {
  if (!WHOLE.test(text)) {
    throw new Error(`"${text}" is not a duration (examples: 500ms, 30s, 1m30s, 2h)`);
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * (UNIT_MS[unit as string] ?? 0);
  }
  return Math.round(total);
}

export function isDuration(text: string): boolean {
  return WHOLE.test(text);
}
