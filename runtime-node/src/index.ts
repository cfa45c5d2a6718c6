export { loadConfig, type Env, type HandlerRef, type LogLevel, type RuntimeConfig } from './config.js';
export { createContainer, createRuntime, type RuntimeOverrides } from './container.js';
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
export type { SupervisorMessage } from './supervisor-channel.js';
export { TOKENS } from './tokens.js';
