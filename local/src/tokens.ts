/** Injection tokens of local mode's composition root. */
export const TOKENS = {
  LocalConfig: Symbol('LocalConfig'),
  Clock: Symbol('Clock'),
  Logger: Symbol('Logger'),
  RouteTable: Symbol('RouteTable'),
  RuntimeEntry: Symbol('RuntimeEntry'),
  Spawn: Symbol('Spawn'),
  SpawnCommand: Symbol('SpawnCommand'),
  ReadinessCheck: Symbol('ReadinessCheck'),
  Backoff: Symbol('BackoffPolicy'),
  ProcessBackend: Symbol('ProcessBackend'),
  WarmPools: Symbol('WarmPools'),
  Stores: Symbol('Stores'),
  StateHost: Symbol('StateHost'),
  /** ctx.publish from replicas, into the gateway's bus once the gateway exists. */
  PublishHost: Symbol('PublishHost'),
  LogBook: Symbol('LogBook'),
  PythonRuntime: Symbol('PythonRuntime'),
  LocalPlatform: Symbol('LocalPlatform'),
} as const;
