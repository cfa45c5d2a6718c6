import type { SourceTrigger } from './source-triggers.js';

/** The Function custom resource, `nimbus.dev/v1alpha1`, as both the cluster and local mode read it. */

export const GROUP = 'nimbus.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'Function';
export const PLURAL = 'functions';
export const SHORT_NAME = 'fn';
export const DEFAULT_NAMESPACE = 'default';

/**
 * node20: a Node.js handler served by runtime-node. python3.11: a Python handler served by
 * runtime-python. container: any image (or, locally, any command) that serves HTTP on $PORT;
 * the gateway gives it timeouts, concurrency and the rest.
 */
export type Runtime = 'node20' | 'python3.11' | 'container';

/** The port a container function listens on when its spec names none. */
export const DEFAULT_CONTAINER_PORT = 8080;

/** How a container function says it is ready: a GET answered 2xx or 3xx, or an accepted connection. */
export type Readiness = { httpGet: { path: string } } | { tcpSocket: Record<string, never> };
export type HttpAuth = 'none' | 'key' | 'jwt';
/**
 * Signature algorithms a token may use: asymmetric only. A symmetric (HS*) key would have to be
 * shared with the gateway, and a JWKS is public, so an HS* token checked against it could be
 * signed by anyone who read the JWKS; `none` is no signature at all.
 */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** spec.http.jwt: the identity provider whose tokens the gateway accepts (http-auth-schema.ts). */
/** What a token must carry besides a valid signature: spec.http.jwt's, and a route's own. */
export interface JwtRequirement {
  requiredScopes?: string[];
  requiredClaims?: Record<string, string>;
}

export interface HttpJwt extends JwtRequirement {
  issuer: string;
  audiences: string[];
  jwksUrl: string;
  /** A duration, at most 5m; unset, 30s. */
  clockSkew?: string;
  forwardToken?: boolean;
  algorithms?: JwtAlgorithm[];
}

/** The auth part of spec.http. */
export interface HttpAuthSpec {
  auth: HttpAuth;
  jwt?: HttpJwt;
}

export interface EnvVar {
  name: string;
  value: string;
}

export interface FunctionSource {
  /** Module text, stored in a ConfigMap in a cluster; written to `<module>.mjs` (ES module). */
  inline?: string;
  /** A directory relative to the Function's YAML file. Local mode only: a cluster cannot see it. */
  path?: string;
}

export interface ResourceList {
  cpu?: string;
  memory?: string;
}

export interface FunctionScale {
  min: number;
  max: number;
  /** Concurrent requests per replica that the autoscaler aims for. */
  target: number;
  scaleToZeroAfter: string;
}

export interface NatsTrigger {
  name?: string;
  nats: { subject: string; maxDeliver?: number; backoff?: string[] };
}

/** What a tick does while the previous run of its schedule still runs, as CronJob's concurrencyPolicy. */
export type ConcurrencyPolicy = 'Allow' | 'Forbid' | 'Replace';

export interface ScheduleTrigger {
  name?: string;
  schedule: { cron: string; timezone?: string; body?: string; concurrencyPolicy?: ConcurrencyPolicy };
}

export type Trigger = NatsTrigger | ScheduleTrigger | SourceTrigger;

/** How async calls (`POST /async-function/...`) to the function are retried. */
export interface AsyncPolicy {
  /** Attempts in all, the first included: 1-100. */
  maxAttempts: number;
  /** Response status codes worth another attempt; a connection failure always is. */
  retryOn: number[];
  /** The wait before retry n is initial·2^(n-1), capped at max, with jitter; durations. */
  backoff: { initial: string; max: string };
}

/** What a function keeps in Redis, and what becomes of it when state is turned off. */
export interface FunctionState {
  enabled: boolean;
  /** Unset: Retain. */
  deletionPolicy?: 'Retain' | 'Delete';
  /** A duration; with Retain, how long the keys outlive `enabled: false`. Unset: until the Function goes. */
  retainFor?: string;
  /** Most keys the function may hold; unset: the platform's NIMBUS_STATE_MAX_KEYS. */
  maxKeys?: number;
  /** Most bytes (keys and JSON values) the function may hold; unset: the platform's NIMBUS_STATE_MAX_BYTES. */
  maxBytes?: number;
}

/** Where a destination sends a finished call's outcome: exactly one of the two. */
export interface Destination {
  /** Another Function in the same namespace, called asynchronously with the outcome as a CloudEvent. */
  function?: string;
  /** A NATS subject (no wildcards, not a reserved one) the outcome is published on, for its triggers. */
  subject?: string;
}

/**
 * Where the outcome of an async call or a trigger event goes once it ends: delivered (2xx) or
 * dead-lettered. Sync calls have none: their caller has the answer.
 */
export interface FunctionDestinations {
  onSuccess?: Destination;
  onFailure?: Destination;
}

/** A token bucket: `requestsPerSecond` on average, up to `burst` at once (requestsPerSecond rounded up unless given). */
export interface RateLimit {
  requestsPerSecond: number;
  burst?: number;
}

/** Calls admitted per second to a function, over all gateway replicas. */
export interface FunctionRateLimit extends RateLimit {
  /** A tighter bucket shared by the callers that present no known API key and no verified token. */
  anonymous?: RateLimit;
  /**
   * A bucket for each caller of this function: each API key, and each signed-in subject (a verified
   * JWT's issuer and `sub`), so that one caller cannot spend what the others share.
   */
  perCaller?: RateLimit;
}

/** A method a route may name (route-schema.ts HTTP_METHODS). */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** Cross-origin calls to a route from browsers; the gateway answers preflights itself. */
export interface RouteCors {
  /** Exact origins (`https://app.example.com`) or `*`. */
  allowOrigins: string[];
  /** Methods a preflight may ask for; unset: the route's methods, or all. */
  allowMethods?: HttpMethod[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  /** Not with the origin `*`. */
  allowCredentials?: boolean;
  /** Seconds a browser may keep a preflight answer. */
  maxAge?: number;
}

/** A path of the function's own: `/api/orders/{id}`, `/files/{path...}`; see route-schema.ts. */
export interface HttpRoute {
  path: string;
  /** Unset: every method. */
  methods?: HttpMethod[];
  /** An exact DNS name or `*.domain`; unset: any Host. */
  host?: string;
  cors?: RouteCors;
  /** With auth jwt: what this route's callers' tokens must carry besides spec.http.jwt's requirements. */
  jwt?: JwtRequirement;
}

/** spec.versions: keep immutable versions (versions-schema.ts). */
export interface FunctionVersions {
  /** Versions kept, newest first; those still needed are kept whatever this says. Defaulted to 5. */
  keep: number;
}

/** One entry of spec.traffic: a version by name or the latest, its share, and an optional tag. */
export interface TrafficTarget {
  version?: string;
  latestVersion?: boolean;
  percent: number;
  tag?: string;
}

/** spec.rollout: how a new version takes over, step by step, judged against the stable one. */
export interface RolloutSpec {
  steps: { percent: number; pause?: string }[];
  /** Defaulted to 50. */
  minRequests?: number;
  /** Percentage points; defaulted to 5. */
  maxErrorRateIncrease?: number;
  /** Percent over the stable p99; defaulted to 50. */
  maxLatencyIncrease?: number;
  /** A duration; defaulted to 25ms. */
  p99Floor?: string;
}

export interface FunctionSpec {
  runtime: Runtime;
  image?: string;
  source?: FunctionSource;
  handler: string;
  /** runtime container: the program and its arguments (in a cluster, the image's entrypoint replaced). */
  command?: string[];
  /** runtime container: the port it serves on, given as $PORT (unset: DEFAULT_CONTAINER_PORT). */
  port?: number;
  /** runtime container: how readiness is checked (unset: a TCP connection to the port). */
  readiness?: Readiness;
  env?: EnvVar[];
  secrets?: string[];
  resources?: { requests?: ResourceList; limits?: ResourceList };
  timeout: string;
  concurrency: number;
  scale: FunctionScale;
  http: HttpAuthSpec & { rateLimit?: FunctionRateLimit; routes?: HttpRoute[] };
  triggers?: Trigger[];
  state?: FunctionState;
  /** Where async calls' and events' outcomes go (onSuccess, onFailure). */
  destinations?: FunctionDestinations;
  /** Defaulted by the schema; absent only on an object stored before the field existed. */
  async?: AsyncPolicy;
  versions?: FunctionVersions;
  traffic?: TrafficTarget[];
  rollout?: RolloutSpec;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/**
 * Ready's reason while the current revision's handler cannot load: no replica will become ready
 * until the spec changes, so a gateway answers callers at once instead of holding them.
 */
export const HANDLER_LOAD_FAILED = 'HandlerLoadFailed';

/** One source trigger as the controller last saw it: set up on its origin, and how its reader is doing. */
export interface TriggerStatus {
  name: string;
  kind: string;
  ready: boolean;
  reason: string;
  message: string;
  /** Whether a gateway reading it is connected to its origin; absent until one reports. */
  connected?: boolean;
  /** Events its origin holds that were not handed on yet, where the origin tells. */
  backlog?: number;
  lastError?: string;
  /** When a gateway last handed one of its events on (RFC 3339). */
  lastEventTime?: string;
}

/** One kept version as status lists it. */
export interface VersionStatus {
  name: string;
  /** The hash of what shapes its pods and code. */
  revision: string;
  /** RFC 3339. */
  createdAt: string;
  replicas: number;
  readyReplicas: number;
  /** Its share of calls now (status.traffic), 0 when it is reached by tag only or not at all. */
  percent: number;
  tags?: string[];
}

/** One resolved entry of how calls are shared now: what every gateway applies (traffic.ts). */
export interface TrafficStatus {
  version: string;
  percent: number;
  tag?: string;
}

export type RolloutPhase = 'Progressing' | 'Succeeded' | 'RolledBack' | 'Aborted';

/** The last or current rollout (spec.rollout). */
export interface RolloutStatus {
  phase: RolloutPhase;
  /** The version that had all calls when the rollout began. */
  stable: string;
  /** The version rolled out. */
  candidate: string;
  /** 1-based index of the current step while Progressing. */
  step?: number;
  steps: number;
  /** RFC 3339: when the current step began, or when the rollout ended. */
  since: string;
  /** RolledBack: ErrorRate or Latency; Aborted: TrafficSet. */
  reason?: string;
  message?: string;
}

export interface FunctionStatus {
  observedGeneration?: number;
  /** With spec.versions: the version the spec describes now. */
  latestVersion?: string;
  versions?: VersionStatus[];
  traffic?: TrafficStatus[];
  rollout?: RolloutStatus;
  conditions?: Condition[];
  replicas?: number;
  readyReplicas?: number;
  url?: string;
  /** The event-source triggers (spec.triggers with a name and a source kind). */
  triggers?: TriggerStatus[];
}

export interface FunctionMetadata {
  name: string;
  namespace: string;
  generation?: number;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  /** Set once deletion was asked for; the object stays while finalizers remain. */
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface FunctionResource {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: FunctionMetadata;
  spec: FunctionSpec;
  status?: FunctionStatus;
}
