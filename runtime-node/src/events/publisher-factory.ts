import type { Clock } from '@nimbus/api/clock';
import type { FunctionConfig } from '../config.js';
import { type EventPublisher, UnconfiguredPublisher } from '../invoke/event-publisher.js';
import { type IpcStateProcess, ipcStateChannel } from '../state/supervisor-state.js';
import { ServicePublisher } from './service-publisher.js';
import { SupervisorPublisher } from './supervisor-publisher.js';

/** ctx.publish for the backend the settings name; nothing connects before the first call. */
export function createPublisher(
  config: Pick<FunctionConfig, 'publish' | 'namespace' | 'functionName'>,
  deps: { readonly clock: Clock; readonly ipc: IpcStateProcess },
): EventPublisher {
  const { publish } = config;
  switch (publish.backend) {
    case 'none':
      return new UnconfiguredPublisher();
    case 'supervisor':
      return new SupervisorPublisher(ipcStateChannel(deps.ipc), deps.clock, publish.timeoutMs);
    case 'service':
      return new ServicePublisher(publish, config.namespace, config.functionName);
  }
}
