import type { FunctionResource } from '@nimbus/api';
import { schedulesOf } from '@nimbus/api';
import type { EventSink } from '../events/event-recorder.js';
import type { FunctionStep } from '../reconcile/object-cache.js';

/**
 * The API server cannot check a cron pattern or a time zone, and the gateways skip a schedule
 * they cannot parse: this step tells the Function's author, with a Warning Event naming the
 * field, instead of leaving a schedule that silently never fires.
 */
export class ScheduleCheck implements FunctionStep {
  readonly name = 'schedule-check';

  constructor(private readonly events: EventSink) {}

  async reconcile(fn: FunctionResource): Promise<void> {
    for (const problem of schedulesOf(fn).problems)
      this.events.emit(fn, 'Warning', 'ScheduleRefused', `${problem.field}: ${problem.message}`);
  }
}
