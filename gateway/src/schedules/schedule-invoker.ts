import type { Schedule } from '@nimbus/api';
import type { Tracing } from '@nimbus/telemetry';
import { describeFailure } from '../async/call-outcome.js';
import { type DeliveryEnd, DeliverySpan } from '../async/delivery-span.js';
import type { BufferedRequest, Invoker } from '../invoke/invoker.js';
import type { RouteTable } from '../routing/route-table.js';
import type { TickSink } from './scheduler.js';

/** The request a tick becomes: a POST carrying a CloudEvent in binary mode, the schedule's body as data. Pure. */
export function tickRequest(schedule: Schedule, tickAt: number): BufferedRequest {
  const time = new Date(tickAt).toISOString();
  const body = schedule.body ?? '';
  let json = body !== '';
  try {
    if (json) JSON.parse(body);
  } catch {
    json = false;
  }
  return {
    method: 'POST',
    path: '/',
    headers: {
      'content-type': json ? 'application/json' : 'text/plain; charset=utf-8',
      'ce-specversion': '1.0',
      'ce-id': `${schedule.key}@${time}`,
      'ce-type': 'dev.nimbus.schedule.tick',
      'ce-source': `/schedules/${schedule.namespace}/${schedule.function}/${schedule.index}`,
      'ce-time': time,
      'x-call-id': `schedule-${schedule.namespace}-${schedule.function}-${schedule.index}-${tickAt}`,
    },
    body: Buffer.from(body),
  };
}

/**
 * Fires a tick as an invocation through the gateway's own routing (a function at zero is woken).
 * Anything but a 2xx rejects with the reason; a failed tick is logged and counted, not retried.
 * `signal` cancels the call (concurrencyPolicy Replace): the replica sees its client go, and
 * aborts the handler's ctx.signal.
 */
export class ScheduleInvoker implements TickSink {
  constructor(
    private readonly routes: RouteTable,
    private readonly invoker: Pick<Invoker, 'call'>,
    /** A span for each tick, the root of a trace of its own; absent, or without a tracer, none. */
    private readonly tracing?: Tracing,
  ) {}

  async fire(schedule: Schedule, tickAt: number, signal: AbortSignal): Promise<void> {
    const span = DeliverySpan.tick(this.tracing, schedule, tickAt);
    const end = await this.run(schedule, tickAt, signal, span);
    span?.end(end);
    if (end.error !== undefined) throw new Error(end.error);
  }

  /** How the tick's invocation ended; a tick is never retried. */
  private async run(
    schedule: Schedule,
    tickAt: number,
    signal: AbortSignal,
    span: DeliverySpan | undefined,
  ): Promise<DeliveryEnd> {
    const route = this.routes.get(schedule.namespace, schedule.function);
    if (route === undefined)
      return {
        error: `function ${schedule.namespace}/${schedule.function} is not known here`,
        retried: false,
      };
    const request = tickRequest(schedule, tickAt);
    const outcome = await this.invoker.call(route, span?.request(request) ?? request, signal);
    const ok = outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300;
    return { outcome, error: ok ? undefined : describeFailure(outcome, 1), retried: false };
  }
}
