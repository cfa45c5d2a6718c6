import type { Clock } from '@nimbus/api/clock';
import { type StateChannel, SupervisorRequests } from '../supervisor-requests.js';

export { type IpcStateProcess, type StateChannel, ipcStateChannel } from '../supervisor-requests.js';
import type { StateEntry } from '../contract.js';
import type { StateOperation, StateReply } from '../supervisor-channel.js';
import type { StatePort } from './function-state.js';
import { RemoteStateError, StateUnavailableError } from './state-errors.js';
import { checkStateValue } from './state-value.js';

/**
 * ctx.state in local mode without Redis: each call is a request to the supervisor, which keeps
 * one in-memory key space per function for all its replicas. A reply that does not come within
 * `timeoutMs` (or a channel that is gone) fails the call as unavailable; a late reply is dropped.
 */
export class SupervisorStatePort implements StatePort {
  private readonly requests: SupervisorRequests<StateReply>;

  constructor(
    channel: StateChannel,
    clock: Clock,
    timeoutMs: number,
    /** Values larger than this are refused here, before the transfer; the supervisor checks again. */
    private readonly maxValueBytes: number,
  ) {
    this.requests = new SupervisorRequests(channel, clock, timeoutMs, isStateReply);
  }

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
    this.requests.failAll(closedError);
  }

  private async request(operation: StateOperation): Promise<unknown> {
    const reply = await this.requests.send(
      (id) => ({ type: 'state', id, ...operation }),
      (why, cause) =>
        new StateUnavailableError(
          `state ${operation.op}: ${why}`,
          cause === undefined ? undefined : { cause },
        ),
      'no supervisor channel (NIMBUS_STATE_BACKEND=supervisor works only in a runtime started by local mode)',
    );
    if (reply.ok) return reply.result;
    throw new RemoteStateError(reply.error);
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
