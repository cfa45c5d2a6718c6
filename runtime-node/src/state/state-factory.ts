import type { Clock } from '@nimbus/api/clock';
import type { Logger } from '@nimbus/api/log';
import type { FunctionConfig } from '../config.js';
import { type ClosableFunctionState, DisabledFunctionState, PortFunctionState } from './function-state.js';
import { ServiceStatePort } from './service-state.js';
import { type IpcStateProcess, SupervisorStatePort, ipcStateChannel } from './supervisor-state.js';

export interface StateDependencies {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The process whose IPC channel reaches the supervisor (local mode). */
  readonly ipc: IpcStateProcess;
}

/** ctx.state for the backend the settings name; nothing connects before the first call. */
export function createFunctionState(
  config: Pick<FunctionConfig, 'state' | 'namespace' | 'functionName'>,
  deps: StateDependencies,
): ClosableFunctionState {
  const { state } = config;
  switch (state.backend) {
    case 'none':
      return new DisabledFunctionState();
    case 'supervisor':
      return new PortFunctionState(
        new SupervisorStatePort(ipcStateChannel(deps.ipc), deps.clock, state.timeoutMs, state.maxValueBytes),
      );
    case 'service':
      return new PortFunctionState(new ServiceStatePort(state, config.namespace, config.functionName));
  }
}
