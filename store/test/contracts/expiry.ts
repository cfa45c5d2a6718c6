import assert from 'node:assert/strict';
import { eventually } from '@nimbus/testkit';
import type { ManualClock } from '@nimbus/testkit';

/** A TTL to wait out: any length on a fake clock, short in real time on Redis. */
export function shortTtl(clock: ManualClock | undefined): number {
  return clock ? 60_000 : 150;
}

/**
 * Lets `ttlMs` pass and checks that `gone` comes true: at once after stepping a fake clock
 * (and not a millisecond earlier), or by polling until a deadline when Redis expires in real time.
 */
export async function waitOutTtl(
  clock: ManualClock | undefined,
  ttlMs: number,
  gone: () => Promise<boolean>,
  what: string,
): Promise<void> {
  if (clock !== undefined) {
    clock.advance(ttlMs - 1);
    assert.equal(await gone(), false, `${what} went 1 ms before its TTL`);
    clock.advance(1);
    assert.equal(await gone(), true, `${what} was still there after its TTL`);
    return;
  }
  await eventually(async () => ((await gone()) ? true : undefined), ttlMs + 5_000, what);
}
