import type { Clock } from '@nimbus/api/clock';
import type { IpcProcess, PublishRequest, StateRequest } from './supervisor-channel.js';

/** The IPC channel as ctx.state's and ctx.publish's clients need it. */
export interface StateChannel {
  /** False when there is no channel; `failed` is called if the message could not be delivered. */
  send(request: StateRequest | PublishRequest, failed: (error: Error) => void): boolean;
  /** Every message from the supervisor; the client picks out its replies. */
  onMessage(listener: (message: unknown) => void): void;
}

/** The slice of `process` the IPC state channel uses: sending, and hearing the replies. */
export interface IpcStateProcess extends IpcProcess {
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

export function ipcStateChannel(proc: IpcStateProcess): StateChannel {
  return {
    send(request, failed) {
      if (typeof proc.send !== 'function' || proc.connected === false) return false;
      try {
        proc.send(request, undefined, undefined, (error) => {
          if (error) failed(error);
        });
      } catch (error) {
        failed(error instanceof Error ? error : new Error(String(error)));
      }
      return true;
    },
    onMessage(listener) {
      proc.on('message', listener);
    },
  };
}

interface Pending {
  resolve(reply: unknown): void;
  reject(error: Error): void;
  timer: unknown;
}

/**
 * Requests to the local-mode supervisor over IPC (ctx.state's and ctx.publish's), matched to their
 * replies by id. A reply that does not come within `timeoutMs`, or a channel that is gone, fails
 * the request; a late reply is dropped.
 */
export class SupervisorRequests<Reply extends { readonly id: number }> {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private listening = false;

  constructor(
    private readonly channel: StateChannel,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly isReply: (message: unknown) => message is Reply,
  ) {}

  /**
   * Sends the message made for a fresh id and resolves with its reply. Fails with `failure(why)`:
   * no answer in time, a channel that failed, or none at all (`why` is then `noChannel`).
   */
  send(
    message: (id: number) => StateRequest | PublishRequest,
    failure: (why: string, cause?: Error) => Error,
    noChannel: string,
  ): Promise<Reply> {
    this.listen();
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(id);
        reject(failure(`the local supervisor did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const call: Pending = { resolve: resolve as (reply: unknown) => void, reject, timer };
      this.pending.set(id, call);
      const sent = this.channel.send(message(id), (error) =>
        this.settle(id, call, () =>
          reject(failure(`the supervisor channel failed: ${error.message}`, error)),
        ),
      );
      if (!sent) this.settle(id, call, () => reject(failure(noChannel)));
    });
  }

  /** Fails the requests still waiting: the process is going away. */
  failAll(error: () => Error): void {
    for (const [id, call] of this.pending) this.settle(id, call, () => call.reject(error()));
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.channel.onMessage((message) => {
      if (!this.isReply(message)) return;
      const call = this.pending.get(message.id);
      if (call === undefined) return; // timed out already
      this.settle(message.id, call, () => call.resolve(message));
    });
  }

  private settle(id: number, call: Pending, outcome: () => void): void {
    if (this.pending.get(id) !== call) return;
    this.pending.delete(id);
    this.clock.clearTimeout(call.timer);
    outcome();
  }
}
