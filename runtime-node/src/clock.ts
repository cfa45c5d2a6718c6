/** Opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = object;

/**
 * Time and timers behind one narrow interface so the limiter, deadline and drain logic can be stepped
 * through time by a fake clock in tests instead of sleeping.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
