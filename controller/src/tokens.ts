/** Injection tokens of the controller's composition roots. */
export const TOKENS = {
  LocalConfig: Symbol('LocalConfig'),
  Clock: Symbol('Clock'),
  Logger: Symbol('Logger'),
  RouteTable: Symbol('RouteTable'),
  RuntimeEntry: Symbol('RuntimeEntry'),
  Spawn: Symbol('Spawn'),
  Backoff: Symbol('BackoffPolicy'),
  ProcessBackend: Symbol('ProcessBackend'),
  LocalPlatform: Symbol('LocalPlatform'),
} as const;
