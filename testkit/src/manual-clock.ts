import type { Clock } from '@nimbus/api';

/**
 * The one test clock: time moves only when a test advances it, and timers fire in time order (then
 * in the order they were set) as it passes them. Implements @nimbus/api's Clock, so it stands in
 * for systemClock wherever a loop takes one.
 */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: { id: number; at: number; fn: () => void }[] = [];

  /** `start`: the time it shows first, in ms since the epoch. */
  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ id, at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Timers set and neither fired nor cleared. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing each timer that falls due on the way, synchronously. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (let due = this.nextDue(until); due !== undefined; due = this.nextDue(until)) this.fire(due);
    this.time = until;
  }

  /**
   * Like `advance`, for code that awaits between timers: after each timer fires, pending promise
   * callbacks run (a timer set by one of them fires too, if it falls due in the window).
   */
  async advanceAndSettle(ms: number): Promise<void> {
    const until = this.time + ms;
    for (let due = this.nextDue(until); due !== undefined; due = this.nextDue(until)) {
      this.fire(due);
      await settle();
    }
    this.time = until;
    await settle();
  }

  private nextDue(until: number): { id: number; at: number; fn: () => void } | undefined {
    return this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
  }

  private fire(due: { id: number; at: number; fn: () => void }): void {
    this.timers = this.timers.filter((t) => t !== due);
    this.time = due.at;
    due.fn();
  }
}

/** Lets pending promise callbacks, and what they schedule with setImmediate, run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
