export {
  ConfigError,
  FUNCTION_SETTINGS,
  loadConfig,
  loadFunctionConfig,
  loadProcessConfig,
  type Env,
  type FunctionConfig,
  type HandlerRef,
  type LogLevel,
  type ProcessConfig,
  type RuntimeConfig,
} from './config.js';
export {
  createContainer,
  createPoolReplica,
  createRuntime,
  type PoolOverrides,
  type RuntimeOverrides,
} from './container.js';
export type {
  CloudEvent,
  FunctionContext,
  FunctionEvent,
  FunctionState,
  Handler,
  HandlerResponse,
  InvokeResponse,
} from './contract.js';
export { runtimeEntryPath } from './entry-path.js';
export type { Runtime, Started } from './runtime.js';
export type { PoolReplica } from './pool-replica.js';
export type { SupervisorCommand, SupervisorMessage } from './supervisor-channel.js';
export { TOKENS } from './tokens.js';
