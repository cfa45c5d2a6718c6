import { functionKey } from '@nimbus/api';
import { CALLS_STREAM, type MessageBus, type StreamState } from '@nimbus/bus';
import { Gauge, type Registry } from 'prom-client';

/** How long one read of the calls stream serves scrapes: several Prometheus servers, or both gauges of one scrape. */
export const QUEUE_READ_CACHE_MS = 5_000;

/** `nimbus.calls.<namespace>.<function>`: namespaces and names are single subject tokens. */
function functionOfSubject(subject: string): string | undefined {
  const [, , namespace, name] = subject.split('.');
  return namespace === undefined || name === undefined ? undefined : functionKey(namespace, name);
}

/**
 * What the async queue holds: the calls stream's messages by function, and the age of its oldest
 * (work-queue retention: a call stays stored from its 202 until a worker acknowledges it, so both
 * count calls waiting and calls running). Read from JetStream when Prometheus scrapes, at most once
 * per QUEUE_READ_CACHE_MS, never per call. The stream is shared, so every gateway replica reports
 * the same numbers: dashboards take the max over replicas, not the sum. Without a connected bus,
 * or when the read fails, the gauges have no series rather than a stale or made-up zero.
 */
export class QueueMetrics {
  private read: { at: number; state: Promise<StreamState | undefined> } | undefined;

  constructor(
    registry: Registry,
    private readonly bus: () => MessageBus | undefined,
    private readonly now: () => number,
  ) {
    const metrics = this;
    new Gauge({
      name: 'nimbus_async_queue_depth',
      help: 'Async calls stored in the NIMBUS_CALLS stream (waiting or running), by function; the same on every gateway replica.',
      labelNames: ['function'],
      registers: [registry],
      async collect() {
        this.reset();
        const state = await metrics.state();
        for (const [subject, count] of state?.bySubject ?? []) {
          const fn = functionOfSubject(subject);
          if (fn !== undefined) this.set({ function: fn }, count);
        }
      },
    });
    new Gauge({
      name: 'nimbus_async_queue_oldest_age_seconds',
      help: 'Age of the oldest async call still in the stream (0 when it is empty); the same on every gateway replica.',
      // Labelled by stream so that an unread stream has no series: prom-client shows an unlabelled gauge as 0.
      labelNames: ['stream'],
      registers: [registry],
      async collect() {
        this.reset();
        const state = await metrics.state();
        if (state === undefined) return;
        const { oldestTimestamp } = state;
        const age = oldestTimestamp === undefined ? 0 : Math.max(0, (metrics.now() - oldestTimestamp) / 1000);
        this.set({ stream: CALLS_STREAM }, age);
      },
    });
  }

  private state(): Promise<StreamState | undefined> {
    const bus = this.bus();
    if (bus === undefined || !bus.reachable) return Promise.resolve(undefined);
    const at = this.now();
    if (this.read === undefined || at - this.read.at >= QUEUE_READ_CACHE_MS)
      this.read = { at, state: bus.streamState(CALLS_STREAM).catch(() => undefined) };
    return this.read.state;
  }
}
