import { type FunctionStateStore, type MemoryStateStore, applyStateOperation } from '@nimbus/store';
import { errorInfo } from '../../src/state/state-errors.js';
import type { StateReply, StateRequest } from '../../src/supervisor-channel.js';
import type { RuntimeProcess } from './runtime-process.js';

/** The reply a supervisor sends for `request`: the store's result, or its error by name. */
export async function stateReply(state: FunctionStateStore, request: StateRequest): Promise<StateReply> {
  try {
    return {
      type: 'state-result',
      id: request.id,
      ok: true,
      result: await applyStateOperation(state, request),
    };
  } catch (error) {
    return { type: 'state-result', id: request.id, ok: false, error: errorInfo(error) };
  }
}

/**
 * Plays local mode's supervisor for a replica's ctx.state: answers its `state` messages over IPC
 * from one function's key space, and keeps them for a test to read. A key in `silentKeys` gets no
 * answer, as from a supervisor that is stuck.
 */
export class TestStateSupervisor {
  readonly requests: StateRequest[] = [];
  readonly silentKeys = new Set<string>();

  constructor(
    private readonly store: MemoryStateStore,
    private readonly namespace: string,
    private readonly fn: string,
  ) {}

  attach(runtime: RuntimeProcess): void {
    runtime.child.on('message', (message: { type?: unknown }) => {
      if (message?.type !== 'state') return;
      const request = message as StateRequest;
      this.requests.push(request);
      if (this.silentKeys.has(request.key)) return;
      void stateReply(this.store.scoped(this.namespace, this.fn), request).then((reply) => {
        if (runtime.alive) runtime.send(reply);
      });
    });
  }
}
