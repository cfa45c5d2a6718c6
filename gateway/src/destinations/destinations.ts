import type { Logger } from '@nimbus/api';
import { CallExistsError, type CallStore } from '@nimbus/store';
import { Counter, type Registry } from 'prom-client';
import { encodeCall } from '../async/call-message.js';
import type { CallQueue } from '../async/call-queue.js';
import type { EventsConfig } from '../events/events-config.js';
import { type FunctionEvents, functionSource } from '../events/function-events.js';
import { type FunctionDirectory, declaredFunction } from '../ports.js';
import { type Ending, HOPS_HEADER, destinationOf, outcomeEvent } from './outcome-event.js';

export interface DestinationDeps {
  readonly config: EventsConfig;
  readonly directory: FunctionDirectory;
  readonly events: Pick<FunctionEvents, 'publish'>;
  readonly calls: Pick<CallStore, 'create'>;
  readonly queue: Pick<CallQueue, 'publish'>;
  readonly log: Logger;
  readonly registry: Registry;
  readonly now: () => number;
}

/** Room in the outcome's data beside the body: its JSON, and base64's third. */
const DATA_OVERHEAD_BYTES = 4096;

/**
 * Sends the outcome of a finished async call or trigger event where the function's
 * spec.destinations says: to another function as an async call (queued on NIMBUS_CALLS, with its
 * retries), or to a subject as an event in NIMBUS_EVENTS (for the triggers on it). Called before
 * the finished message is acknowledged, so a gateway lost in between runs the finish again; the
 * outcome's id is derived from the original's, so JetStream stores it once (msgId) and a call's
 * record is made once.
 *
 * A chain of destinations (A → B → A ...) carries its hop count in `ce-nimbushops` (set by the
 * gateway: on a call's headers, and sealed on an event), and stops at config.maxHops: counted,
 * logged, and not sent. A destination that cannot be reached now is logged and counted, never
 * thrown: the call or event itself has ended and must not run again for it.
 */
export class Destinations {
  private readonly sent: Counter<'outcome' | 'result'>;

  constructor(private readonly deps: DestinationDeps) {
    this.sent = new Counter({
      name: 'nimbus_destination_events_total',
      help: 'Outcomes sent to destinations by outcome (succeeded, failed) and result: sent, loop (past NIMBUS_DESTINATION_MAX_HOPS), error.',
      labelNames: ['outcome', 'result'],
      registers: [deps.registry],
    });
  }

  /** Sends the ending's outcome to its destination, if the function has one. Never throws. */
  async ended(ending: Ending): Promise<void> {
    const spec = declaredFunction(this.deps.directory, ending.namespace, ending.function)?.spec;
    const destination = destinationOf(spec, ending);
    if (destination === undefined) return;
    const kind = ending.outcome.kind;
    const fn = `${ending.namespace}/${ending.function}`;
    const hops = ending.hops + 1;
    if (hops > this.deps.config.maxHops) {
      this.sent.inc({ outcome: kind, result: 'loop' });
      this.deps.log.warn('a chain of destinations reached its bound; the outcome is not sent', {
        function: fn,
        causation: ending.id,
        hops: ending.hops,
        maxHops: this.deps.config.maxHops,
      });
      return;
    }
    const maxBody = Math.floor(((this.deps.config.maxDataBytes - DATA_OVERHEAD_BYTES) * 3) / 4);
    const event = outcomeEvent(ending, Math.max(0, maxBody));
    try {
      if (destination.function !== undefined) await this.call(ending, destination.function, event, hops);
      else if (destination.subject !== undefined)
        await this.deps.events.publish(
          { namespace: ending.namespace, name: ending.function },
          {
            subject: destination.subject,
            data: event.data,
            contentType: 'application/json',
            type: event.type,
            id: event.id,
            causationId: ending.id,
            hops,
          },
        );
      this.sent.inc({ outcome: kind, result: 'sent' });
    } catch (err) {
      this.sent.inc({ outcome: kind, result: 'error' });
      this.deps.log.error('an outcome could not be sent to its destination', {
        function: fn,
        causation: ending.id,
        destination,
        err: (err as Error).message,
      });
    }
  }

  /** An async call to `target`, with the outcome as a binary-mode CloudEvent. */
  private async call(
    ending: Ending,
    target: string,
    event: ReturnType<typeof outcomeEvent>,
    hops: number,
  ): Promise<void> {
    const { namespace } = ending;
    const acceptedAt = this.deps.now();
    try {
      await this.deps.calls.create({ id: event.id, namespace, function: target, createdAt: acceptedAt });
    } catch (err) {
      // Made by an earlier run of this finish: queued again below, which JetStream drops.
      if (!(err instanceof CallExistsError)) throw err;
    }
    const message = encodeCall(
      {
        id: event.id,
        namespace,
        function: target,
        method: 'POST',
        path: '/',
        headers: {
          'content-type': 'application/json',
          'ce-specversion': '1.0',
          'ce-id': event.id,
          'ce-source': functionSource({ namespace, name: ending.function }),
          'ce-type': event.type,
          'ce-causationid': ending.id,
          [HOPS_HEADER]: String(hops),
          'x-call-id': event.id,
        },
        body: event.data,
        callbackUrl: undefined,
        acceptedAt,
      },
      event.id,
    );
    await this.deps.queue.publish(message.subject, message.data, message.options);
  }
}
