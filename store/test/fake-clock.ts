import type { Clock } from '../src/clock.js';

/** A clock a test steps by hand: the in-memory adapters expire entries by it. */
export class FakeClock implements Clock {
  constructor(private time = Date.UTC(2025, 0, 1)) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}
