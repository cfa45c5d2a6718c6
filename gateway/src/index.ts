export * from './config.js';
export * from './tokens.js';
export * from './container.js';
export { Gateway } from './gateway.js';
export { GatewayServer } from './http/server.js';
export type {
  FunctionDirectory,
  FunctionLogLine,
  FunctionLogs,
  LocalListeners,
  LogQuery,
  Readiness,
} from './ports.js';
export { declaredFunction } from './ports.js';
export { Problem, problems, sendProblem } from './http/problems.js';
export {
  RouteTable,
  type Endpoint,
  type EndpointAddress,
  type FunctionRoute,
  type RouteSettings,
} from './routing/route-table.js';
export { pickEndpoint } from './routing/balancer.js';
export { type WakeStep, type WakeTrace, type Waker, noWaker } from './routing/waker.js';
export { parseInvokePath } from './invoke/function-path.js';
export { HashedApiKeys, type ApiKeyVerifier } from './auth/api-keys.js';
export type { SystemInfo } from './system/system-app.js';
export { StateService } from './state/state-service.js';
export type { StateServiceConfig } from './state/state-service-config.js';
export { LocalTriggerSecrets, secretEnvName } from './sources/local-secrets.js';
export type { SourceCheckpoints, TriggerSecrets } from './sources/source-runner.js';
export type { EventSourceParts } from './sources/event-source-parts.js';
export type { SourceHealthReport } from './sources/source-health.js';
export {
  FunctionEvents,
  PublishRefusedError,
  type OutgoingEvent,
  type Published,
  type Publisher,
  functionSource,
} from './events/function-events.js';
export { eventOf } from './events/events-endpoint.js';
export type { EventsConfig } from './events/events-config.js';
