import type { Clock } from '@nimbus/api/clock';
import {
  type EventPublisher,
  PublishError,
  type PublishOptions,
  publishRequest,
} from '../invoke/event-publisher.js';
import type { StateChannel } from '../state/supervisor-state.js';
import type { PublishReply } from '../supervisor-channel.js';

interface Pending {
  resolve(id: string): void;
  reject(error: Error): void;
  timer: unknown;
}

/**
 * ctx.publish in local mode: each call is a request to the supervisor over IPC, which publishes
 * into local mode's bus as this replica's function, with the gateway's checks. No answer within
 * `timeoutMs` (or no channel) fails the call as unavailable; a late answer is dropped.
 */
export class SupervisorPublisher implements EventPublisher {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private listening = false;

  constructor(
    private readonly channel: StateChannel,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  publish(subject: string, data: unknown, options?: PublishOptions): Promise<string> {
    let request: Record<string, unknown>;
    try {
      request = publishRequest(subject, data, options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.listen();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const unavailable = (why: string, cause?: unknown) =>
        new PublishError(
          'PublishUnavailableError',
          `ctx.publish ${subject}: ${why}`,
          0,
          'PublishUnavailable',
          { cause },
        );
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(id);
        reject(unavailable(`the local supervisor did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const call: Pending = { resolve, reject, timer };
      this.pending.set(id, call);
      const sent = this.channel.send({ type: 'publish', id, event: request }, (error) =>
        this.settle(id, call, () =>
          reject(unavailable(`the supervisor channel failed: ${error.message}`, error)),
        ),
      );
      if (!sent)
        this.settle(id, call, () =>
          reject(
            unavailable(
              'no supervisor channel (NIMBUS_EVENTS_BACKEND=supervisor works only in a runtime started by local mode)',
            ),
          ),
        );
    });
  }

  async close(): Promise<void> {
    for (const [id, call] of this.pending)
      this.settle(id, call, () =>
        call.reject(
          new PublishError(
            'PublishUnavailableError',
            'ctx.publish: the runtime is shutting down',
            0,
            'PublishUnavailable',
          ),
        ),
      );
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.channel.onMessage((message) => {
      if (!isPublishReply(message)) return;
      const call = this.pending.get(message.id);
      if (call === undefined) return;
      this.settle(message.id, call, () => {
        if (message.ok) call.resolve(message.result.id);
        else {
          const { name, message: text, status, code } = message.error;
          call.reject(new PublishError(name, text, status, code));
        }
      });
    });
  }

  private settle(id: number, call: Pending, outcome: () => void): void {
    if (this.pending.get(id) !== call) return;
    this.pending.delete(id);
    this.clock.clearTimeout(call.timer);
    outcome();
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
