import { type FunctionEvents, PublishRefusedError, type Publisher, eventOf } from '@nimbus/gateway';
import type { PublishReply } from '@nimbus/runtime-node';

/**
 * Local mode's ctx.publish: a replica asks the supervisor over IPC, and the supervisor publishes
 * into local mode's bus through the gateway's own FunctionEvents, with the same checks as the
 * events endpoint in a cluster (reserved subjects, size, syntax). The publisher is the function
 * the replica was spawned for, whatever the message says. The gateway is made after the replicas'
 * supervisor, so it is attached once it exists; a publish before that is answered unavailable.
 */
export class PublishHost {
  private events: Pick<FunctionEvents, 'publish'> | undefined;

  attach(events: Pick<FunctionEvents, 'publish'>): void {
    this.events = events;
  }

  /** The reply to a `publish` message, or undefined when the message is not one (no id to answer). */
  async handle(from: Publisher, message: unknown): Promise<PublishReply | undefined> {
    if (message === null || typeof message !== 'object') return undefined;
    const { type, id: given, event } = message as { type?: unknown; id?: unknown; event?: unknown };
    if (type !== 'publish' || !Number.isSafeInteger(given)) return undefined;
    const id = given as number;
    const request = event !== null && typeof event === 'object' ? (event as Record<string, unknown>) : {};
    try {
      if (this.events === undefined)
        throw new PublishRefusedError(503, 'EventsUnavailable', 'the local gateway is not started yet');
      const published = await this.events.publish(from, eventOf(request));
      return { type: 'publish-result', id, ok: true, result: published };
    } catch (error) {
      const refused = error instanceof PublishRefusedError;
      const subject = typeof request.subject === 'string' ? request.subject : '';
      return {
        type: 'publish-result',
        id,
        ok: false,
        error: {
          name: refused && error.status < 500 ? 'PublishRefusedError' : 'PublishUnavailableError',
          message: `ctx.publish ${subject}: ${refused ? error.message : 'publishing failed in the supervisor'}`,
          status: refused ? error.status : 500,
          code: refused ? error.code : 'Error',
        },
      };
    }
  }
}
