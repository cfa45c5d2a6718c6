import type { Clock } from '@nimbus/api/clock';
import type { StateEntry } from '../contract.js';
import type { PublishRequest, StateOperation, StateReply, StateRequest } from '../supervisor-channel.js';
import type { StatePort } from './function-state.js';
import { RemoteStateError, StateUnavailableError } from './state-errors.js';
import { checkStateValue } from './state-value.js';

/** The IPC channel as the state client needs it. */
export interface StateChannel {
  /** False when there is no channel; `failed` is called if the message could not be delivered. */
  send(request: StateRequest | PublishRequest, failed: (error: Error) => void): boolean;
  /** Every message from the supervisor; the client picks out its replies. */
  onMessage(listener: (message: unknown) => void): void;
}

/** The slice of `process` the IPC state channel uses. */
export interface IpcStateProcess {
  send?: (
    message: unknown,
    sendHandle?: undefined,
    options?: undefined,
    callback?: (error: Error | null) => void,
  ) => boolean;
  readonly connected?: boolean;
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
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: unknown;
}

/**
 * ctx.state in local mode without Redis: each call is a request to the supervisor, which keeps
 * one in-memory key space per function for all its replicas. A reply that does not come within
 * `timeoutMs` (or a channel that is gone) fails the call as unavailable; a late reply is dropped.
 */
export class SupervisorStatePort implements StatePort {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private listening = false;

  constructor(
    private readonly channel: StateChannel,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    /** Values larger than this are refused here, before the transfer; the supervisor checks again. */
    private readonly maxValueBytes: number,
  ) {}

  async get(key: string): Promise<StateEntry | undefined> {
    return (await this.request({ op: 'get', key })) as StateEntry | undefined;
  }

  async set(key: string, value: unknown, options: { ttlMs?: number } = {}): Promise<string> {
    checkStateValue(key, value, this.maxValueBytes);
    return (await this.request({ op: 'set', key, value, ...ttl(options) })) as string;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.request({ op: 'delete', key })) as boolean;
  }

  async incr(key: string, by = 1): Promise<number> {
    return (await this.request({ op: 'incr', key, by })) as number;
  }

  async compareAndSet(
    key: string,
    expectedVersion: string | null,
    value: unknown,
    options: { ttlMs?: number } = {},
  ): Promise<{ ok: true; version: string } | { ok: false; currentVersion: string | null }> {
    checkStateValue(key, value, this.maxValueBytes);
    return (await this.request({ op: 'compareAndSet', key, expectedVersion, value, ...ttl(options) })) as
      | { ok: true; version: string }
      | { ok: false; currentVersion: string | null };
  }

  /** Fails the calls still waiting: the process is going away. */
  async close(): Promise<void> {
    for (const [id, call] of this.pending) this.settle(id, call, () => call.reject(closedError()));
  }

  private request(operation: StateOperation): Promise<unknown> {
    this.listen();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(id);
        reject(
          new StateUnavailableError(
            `state ${operation.op}: the local supervisor did not answer within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      const call: Pending = { resolve, reject, timer };
      this.pending.set(id, call);
      const sent = this.channel.send({ type: 'state', id, ...operation }, (error) =>
        this.settle(id, call, () =>
          reject(
            new StateUnavailableError(
              `state ${operation.op}: the supervisor channel failed: ${error.message}`,
              {
                cause: error,
              },
            ),
          ),
        ),
      );
      if (!sent)
        this.settle(id, call, () =>
          reject(
            new StateUnavailableError(
              `state ${operation.op}: no supervisor channel (NIMBUS_STATE_BACKEND=supervisor works only in a runtime started by local mode)`,
            ),
          ),
        );
    });
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.channel.onMessage((message) => {
      if (!isStateReply(message)) return;
      const call = this.pending.get(message.id);
      if (call === undefined) return; // timed out already
      this.settle(message.id, call, () => {
        if (message.ok) call.resolve(message.result);
        else call.reject(new RemoteStateError(message.error));
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

function ttl(options: { ttlMs?: number }): { ttlMs?: number } {
  return options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs };
}

function closedError(): Error {
  return new StateUnavailableError('function state is closing: the runtime is shutting down');
}

function isStateReply(message: unknown): message is StateReply {
  if (message === null || typeof message !== 'object') return false;
  const m = message as { type?: unknown; id?: unknown; ok?: unknown; error?: unknown };
  if (m.type !== 'state-result' || typeof m.id !== 'number' || typeof m.ok !== 'boolean') return false;
  if (m.ok) return true;
  const error = m.error as { name?: unknown; message?: unknown } | null | undefined;
  return typeof error?.name === 'string' && typeof error.message === 'string';
}
