/** Injection tokens of the gateway's composition root. */
export const TOKENS = {
  Config: Symbol('GatewayConfig'),
  Registry: Symbol('prom-client Registry'),
  RouteTable: Symbol('RouteTable'),
  ApiKeys: Symbol('ApiKeyVerifier'),
  Metrics: Symbol('GatewayMetrics'),
  Invoker: Symbol('Invoker'),
  Logger: Symbol('Logger'),
  Directory: Symbol('FunctionDirectory'),
  Readiness: Symbol('Readiness'),
  SystemInfo: Symbol('SystemInfo'),
  SystemApp: Symbol('SystemApp'),
  Server: Symbol('GatewayServer'),
  // In a cluster (kubernetes/, cluster/):
  ClusterConfig: Symbol('ClusterConfig'),
  KubeClient: Symbol('KubeClient'),
  FunctionInformers: Symbol('Function informers'),
  EndpointSliceInformers: Symbol('EndpointSlice informers'),
  EndpointSliceSource: Symbol('EndpointSliceSource'),
  FunctionSource: Symbol('FunctionSource'),
  KubernetesDirectory: Symbol('KubernetesFunctionDirectory'),
  InformerReadiness: Symbol('InformerReadiness'),
} as const;
