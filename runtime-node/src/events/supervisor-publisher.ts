import type { Clock } from '@nimbus/api/clock';
import {
  type EventPublisher,
  PublishError,
  type PublishOptions,
  publishRequest,
} from '../invoke/event-publisher.js';
import type { PublishReply } from '../supervisor-channel.js';
import { type StateChannel, SupervisorRequests } from '../supervisor-requests.js';

/**
 * ctx.publish in local mode: each call is a request to the supervisor over IPC, which publishes
 * into local mode's bus as this replica's function, with the gateway's checks. No answer within
 * `timeoutMs` (or no channel) fails the call as unavailable.
 */
export class SupervisorPublisher implements EventPublisher {
  private readonly requests: SupervisorRequests<PublishReply>;

  constructor(channel: StateChannel, clock: Clock, timeoutMs: number) {
    this.requests = new SupervisorRequests(channel, clock, timeoutMs, isPublishReply);
  }

  async publish(subject: string, data: unknown, options?: PublishOptions): Promise<string> {
    const event = publishRequest(subject, data, options);
    const reply = await this.requests.send(
      (id) => ({ type: 'publish', id, event }),
      (why, cause) =>
        new PublishError(
          'PublishUnavailableError',
          `ctx.publish ${subject}: ${why}`,
          0,
          'PublishUnavailable',
          {
            cause,
          },
        ),
      'no supervisor channel (NIMBUS_EVENTS_BACKEND=supervisor works only in a runtime started by local mode)',
    );
    if (reply.ok) return reply.result.id;
    const { name, message, status, code } = reply.error;
    throw new PublishError(name, message, status, code);
  }

  async close(): Promise<void> {
    this.requests.failAll(
      () =>
        new PublishError(
          'PublishUnavailableError',
          'ctx.publish: the runtime is shutting down',
          0,
          'PublishUnavailable',
        ),
    );
  }
}

function isPublishReply(message: unknown): message is PublishReply {
  if (message === null || typeof message !== 'object') return false;
  const m = message as {
    type?: unknown;
    id?: unknown;
    ok?: unknown;
    result?: { id?: unknown };
    error?: Record<string, unknown>;
  };
  if (m.type !== 'publish-result' || typeof m.id !== 'number') return false;
  if (m.ok === true) return typeof m.result?.id === 'string';
  return (
    m.ok === false &&
    typeof m.error?.name === 'string' &&
    typeof m.error.message === 'string' &&
    typeof m.error.status === 'number' &&
    typeof m.error.code === 'string'
  );
}
