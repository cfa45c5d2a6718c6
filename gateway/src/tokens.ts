/** Injection tokens of the gateway's composition root. */
export const TOKENS = {
  Config: Symbol('GatewayConfig'),
  Registry: Symbol('prom-client Registry'),
  RouteTable: Symbol('RouteTable'),
  ApiKeys: Symbol('ApiKeyVerifier'),
  /** Bearer-token sign-in for Functions with auth jwt (auth/jwt-verifier.ts). */
  JwtAdmission: Symbol('JwtAdmission'),
  Metrics: Symbol('GatewayMetrics'),
  Invoker: Symbol('Invoker'),
  Logger: Symbol('Logger'),
  Directory: Symbol('FunctionDirectory'),
  Readiness: Symbol('Readiness'),
  SystemInfo: Symbol('SystemInfo'),
  SystemApp: Symbol('SystemApp'),
  Server: Symbol('GatewayServer'),
  /** `/metrics` on NIMBUS_METRICS_PORT (which may be unset: then it serves nothing). */
  MetricsServer: Symbol('MetricsServer'),
  /** The server and the async workers, started and stopped together: what a host runs. */
  Gateway: Symbol('Gateway'),
  Waker: Symbol('Waker'),
  /** Rate limits at the invoke front doors (quotas/). */
  RateLimiter: Symbol('RateLimiter'),
  /** The ports this gateway listens on, once it does: never a callback's destination. */
  OwnPorts: Symbol('OwnPorts'),
  /** @nimbus/api's Clock: systemClock; a test may register a ManualClock before resolving. */
  Clock: Symbol('Clock'),
  /** @nimbus/telemetry's Tracing, from config.tracing (no tracer when off). */
  Tracing: Symbol('Tracing'),
  /** The dashboard (ui/): its static files' handler, and the history sampler behind its plots. */
  UiAssets: Symbol('UiAssets'),
  FunctionStats: Symbol('FunctionStats'),
  // Async calls (async/):
  Stores: Symbol('Stores'),
  CallQueue: Symbol('CallQueue'),
  /** ctx.publish's way into NIMBUS_EVENTS (events/), which local mode's supervisor uses too. */
  FunctionEvents: Symbol('FunctionEvents'),
  /** Where finished calls' and events' outcomes go (destinations/). */
  Destinations: Symbol('Destinations'),
  AsyncMetrics: Symbol('AsyncMetrics'),
  AsyncFrontDoor: Symbol('AsyncFrontDoor'),
  CallAdmin: Symbol('CallAdmin'),
  AsyncCalls: Symbol('AsyncCalls'),
  Now: Symbol('now'),
  /** Event sources (sources/): readers, the pushed endpoint, health. */
  EventSourceParts: Symbol('EventSourceParts'),
  /** The state service (state/), or undefined when the config has none: wrapped, as tsyringe keeps no undefined. */
  StateService: Symbol('StateService'),
  // In a cluster (cluster/):
  ClusterConfig: Symbol('ClusterConfig'),
  KubeClient: Symbol('KubeClient'),
  FunctionInformers: Symbol('Function informers'),
  EndpointSliceInformers: Symbol('EndpointSlice informers'),
  EndpointSliceSource: Symbol('EndpointSliceSource'),
  FunctionSource: Symbol('FunctionSource'),
  KubernetesDirectory: Symbol('KubernetesFunctionDirectory'),
  InformerReadiness: Symbol('InformerReadiness'),
} as const;
