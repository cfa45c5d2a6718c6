import type { StateErrorInfo } from './state/state-errors.js';

/** One ctx.state call, as the runtime asks the supervisor to run it on the function's key space. */
export type StateOperation =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: unknown; readonly ttlMs?: number }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'incr'; readonly key: string; readonly by: number }
  | {
      readonly op: 'compareAndSet';
      readonly key: string;
      readonly expectedVersion: string | null;
      readonly value: unknown;
      readonly ttlMs?: number;
    };

/**
 * A state call over IPC. The supervisor runs it on the key space of the function it spawned
 * this process for (never one the message names) and answers with a `state-result` of the same id.
 */
export type StateRequest = { readonly type: 'state'; readonly id: number } & StateOperation;

/** The supervisor's answer to a {@link StateRequest}: the store's result, or its error by name. */
export type StateReply =
  | { readonly type: 'state-result'; readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly type: 'state-result';
      readonly id: number;
      readonly ok: false;
      readonly error: StateErrorInfo;
    };

/**
 * A ctx.publish over IPC: the supervisor publishes it into local mode's bus as the function it
 * spawned this process for (never one the message names), and answers a `publish-result`.
 */
export interface PublishRequest {
  readonly type: 'publish';
  readonly id: number;
  /** The body the gateway's events endpoint takes: subject, data or dataBase64, contentType, type. */
  readonly event: Readonly<Record<string, unknown>>;
}

/** The supervisor's answer to a {@link PublishRequest}: the event's id, or why it was refused. */
export type PublishReply =
  | {
      readonly type: 'publish-result';
      readonly id: number;
      readonly ok: true;
      readonly result: { readonly id: string; readonly delivered: boolean };
    }
  | {
      readonly type: 'publish-result';
      readonly id: number;
      readonly ok: false;
      readonly error: {
        readonly name: string;
        readonly message: string;
        readonly status: number;
        readonly code: string;
      };
    };

/** Messages for the local-mode supervisor that spawned this process with an 'ipc' stdio channel. */
export type SupervisorMessage =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'ready' }
  | { readonly type: 'load-failed'; readonly reason: string }
  /** A pool replica turned a `specialise` down: it has a function already, or the settings are bad. */
  | { readonly type: 'specialise-refused'; readonly reason: string }
  | StateRequest
  | PublishRequest;

/**
 * What the supervisor may send a pool replica (NIMBUS_POOL=1): take on a function. `env` holds the
 * function settings a normal start reads from its environment (NIMBUS_FUNCTION_DIR, NIMBUS_HANDLER,
 * ...) and the function's own variables; all of it lands in `process.env` before the handler loads.
 */
export interface SpecialiseCommand {
  readonly type: 'specialise';
  readonly env: Readonly<Record<string, string>>;
}

export type SupervisorCommand = SpecialiseCommand | StateReply | PublishReply;

export interface SupervisorChannel {
  /** Best effort: never throws, and does nothing without a channel. */
  send(message: SupervisorMessage): void;
}

/** The narrow slice of `process` used to talk to a parent over IPC. */
export interface IpcProcess {
  send?: (
    message: unknown,
    sendHandle?: undefined,
    options?: undefined,
    callback?: (error: Error | null) => void,
  ) => boolean;
  readonly connected?: boolean;
}

export function ipcSupervisorChannel(proc: IpcProcess): SupervisorChannel {
  return {
    send(message) {
      if (typeof proc.send !== 'function' || proc.connected === false) return;
      try {
        // The callback swallows a send on a channel that closed meanwhile; the supervisor is gone.
        proc.send(message, undefined, undefined, () => {});
      } catch {
        // Closed between the check and the send: same as above.
      }
    },
  };
}
