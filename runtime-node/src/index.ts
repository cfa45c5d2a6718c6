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
  SetOptions,
  StateEntry,
  HandlerResponse,
  InvokeResponse,
} from './contract.js';
export { runtimeEntryPath } from './entry-path.js';
export type { Runtime, Started } from './runtime.js';
export type { PoolReplica } from './pool/pool-replica.js';
export type { StateBackend, StateSettings } from './state/state-config.js';
export { STATE_SETTINGS } from './state/state-config.js';
export type { StateErrorInfo } from './state/state-errors.js';
export type {
  PublishReply,
  PublishRequest,
  SpecialiseCommand,
  StateOperation,
  StateReply,
  StateRequest,
  SupervisorCommand,
  SupervisorMessage,
} from './supervisor-channel.js';
export { TOKENS } from './tokens.js';
