/** The time the in-memory stores expire entries by; tests pass a clock they step by hand. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
