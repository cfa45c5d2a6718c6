/** Injection tokens of the controller's cluster composition root. */
export const TOKENS = {
  Clock: Symbol('Clock'),
  Logger: Symbol('Logger'),
  ClusterConfig: Symbol('ClusterConfig'),
  KubeClient: Symbol('KubeClient'),
  Registry: Symbol('prom-client Registry'),
  ControllerMetrics: Symbol('ControllerMetrics'),
  EventSink: Symbol('EventSink'),
  Cleanups: Symbol('FunctionCleanups'),
  FunctionController: Symbol('FunctionController'),
  LeaseElector: Symbol('LeaseElector'),
  HealthServer: Symbol('HealthServer'),
  ReportEndpoint: Symbol('ReportEndpoint'),
  ClusterController: Symbol('ClusterController'),
} as const;
