import type { ChildProcess } from 'node:child_process';
import { type IntervalHistogram, PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { percentile } from './stats.js';

/** How often the event loop is sampled: the smallest stall the monitor can see. */
const RESOLUTION_MS = 1;

/** A server's pauses over a window: event-loop delay beyond the timer's resolution, and GC pauses. */
export interface StallReport {
  readonly loopDelayP50Ms: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  readonly gcPauses: number;
  readonly gcP99Ms: number;
  readonly gcMaxMs: number;
  readonly gcTotalMs: number;
  /** Every GC pause over the window, in ms (the raw samples, as --trace-gc would print them). */
  readonly gcPauseMs: readonly number[];
}

const ms = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
const round = (n: number) => Math.round(n * 1000) / 1000;

/**
 * Watches the process it runs in: `monitorEventLoopDelay` for stalls (a 1 ms timer that fires
 * late), a `gc` PerformanceObserver for collector pauses (what --trace-gc prints). A server
 * started by a bench answers `{type:'stalls', action:'reset'|'report'}` over its IPC channel.
 */
export class StallMonitor {
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private gc: number[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.gc.push(entry.duration);
  });

  start(): void {
    this.delay.enable();
    this.observer.observe({ entryTypes: ['gc'] });
  }

  reset(): void {
    this.delay.reset();
    this.gc = [];
  }

  report(): StallReport {
    const gc = [...this.gc].sort((a, b) => a - b);
    return {
      loopDelayP50Ms: round(ms(this.delay.percentile(50))),
      loopDelayP99Ms: round(ms(this.delay.percentile(99))),
      loopDelayMaxMs: round(ms(this.delay.max)),
      gcPauses: gc.length,
      gcP99Ms: round(gc.length === 0 ? 0 : percentile(gc, 99)),
      gcMaxMs: round(gc.at(-1) ?? 0),
      gcTotalMs: round(gc.reduce((sum, d) => sum + d, 0)),
      gcPauseMs: this.gc.map(round),
    };
  }

  /** Answers the parent's `stalls` messages until the channel closes. */
  answerParent(): void {
    process.on('message', (message: unknown) => {
      if (typeof message !== 'object' || message === null) return;
      const { type, action } = message as { type?: unknown; action?: unknown };
      if (type !== 'stalls') return;
      if (action === 'reset') this.reset();
      process.send?.({ type: 'stalls', action, report: action === 'report' ? this.report() : undefined });
    });
  }
}

/** Asks a child running a StallMonitor to start a window afresh, or for the window's report. */
export function askStalls(child: ChildProcess, action: 'reset'): Promise<undefined>;
export function askStalls(child: ChildProcess, action: 'report'): Promise<StallReport>;
export function askStalls(child: ChildProcess, action: 'reset' | 'report'): Promise<StallReport | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no answer to a stalls ${action} within 5 s`));
    }, 5_000);
    const onMessage = (message: unknown) => {
      const answer = message as { type?: unknown; action?: unknown; report?: StallReport };
      if (answer?.type !== 'stalls' || answer.action !== action) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(answer.report);
    };
    child.on('message', onMessage);
    child.send({ type: 'stalls', action });
  });
}
