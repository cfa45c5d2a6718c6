import { hostname } from 'node:os';
import { type ErrorDetail, type LogLevel, isNamespace } from '@nimbus/api';
import {
  ConfigError,
  parseWatchNamespaces,
  readErrorDetail,
  readInt,
  readLogLevel,
  readReportToken,
} from '@nimbus/api';
import { type NatsCredentials, readNatsCredentials, readNatsUrl } from '@nimbus/bus';
import { MIN_STATE_KEY_LENGTH, parseStoreConfig } from '@nimbus/store';
import { type TracingConfig, loadTracingConfig } from '@nimbus/telemetry';
import { type AutoscalerTuning, readAutoscalerTuning } from '../autoscale/config.js';
import type { LeaseSettings } from '../leader/lease-elector.js';
import type { FunctionIngress } from '../resources/network-policy.js';

export interface ClusterConfig {
  /** Namespaces whose Functions this controller reconciles; empty: all of them. */
  readonly namespaces: readonly string[];
  readonly runtimeImage: string;
  /** NIMBUS_PYTHON_RUNTIME_IMAGE: the runtime-python image; undefined: python3.11 Functions are refused. */
  readonly pythonRuntimeImage: string | undefined;
  /** The gateway's in-cluster URL: the base of each Function's status.url, and where ctx.invoke goes. */
  readonly gatewayUrl: string;
  readonly runAsUser: number;
  readonly workers: number;
  readonly resyncMs: number;
  /**
   * How often the Secrets named by source triggers are looked at (metadata, by name) for a
   * rotation to copy beside the gateway (NIMBUS_TRIGGER_SECRET_CHECK_MS; 0: only at reconciles).
   */
  readonly triggerSecretCheckMs: number;
  /** Undefined when leader election is off (one replica only). */
  readonly lease: LeaseSettings | undefined;
  readonly metricsHost: string;
  readonly metricsPort: number;
  /** How long shutdown waits for reconciles in flight. */
  readonly drainMs: number;
  readonly logLevel: LogLevel;
  /** Spans of reconciles and wakes over OTLP/HTTP; off without an endpoint. */
  readonly tracing: TracingConfig;
  /** The Bearer token every call on /v1/reports, /v1/wake and /v1/concurrency must carry. */
  readonly reportToken: string;
  /** NATS with JetStream, for the Functions' trigger streams and consumers; undefined: triggers are not served. */
  readonly natsUrl: string | undefined;
  /** NIMBUS_NATS_USER and NIMBUS_NATS_PASSWORD: the controller's NATS user; undefined: anonymous. */
  readonly natsCredentials: NatsCredentials | undefined;
  /** Function state (spec.state) in Redis; undefined without NIMBUS_REDIS_URL: no function gets state. */
  readonly state: StateConfig | undefined;
  /**
   * Generic runtime pods kept running in each namespace with a function at zero (0: no pool); per
   * runtime, so a namespace with Node and Python functions at zero keeps twice as many.
   */
  readonly warmPoolSize: number;
  /** `NIMBUS_AUTOSCALER_*`: windows, rates and utilisation for every function; unset keeps Knative's. */
  readonly autoscaler: Partial<AutoscalerTuning>;
  /** NIMBUS_ERROR_DETAIL handed to function pods; undefined: not set, the runtime's default (none). */
  readonly errorDetail: ErrorDetail | undefined;
  /**
   * NIMBUS_GATEWAY_POD_SELECTOR and NIMBUS_CONTROLLER_POD_SELECTOR (with the platform's namespace):
   * each Function and warm pool gets a NetworkPolicy letting only those pods in. Undefined: none.
   */
  readonly functionIngress: FunctionIngress | undefined;
  /**
   * The namespace the gateway and controller run in (NIMBUS_PLATFORM_NAMESPACE, or POD_NAMESPACE),
   * where the copies of source triggers' Secrets are kept; undefined: source triggers are refused
   * in status until it is set.
   */
  readonly platformNamespace: string | undefined;
}

/** What the controller needs to give functions their state: tokens for the gateway's state service, and Redis to clear keys. */
export interface StateConfig {
  /** NIMBUS_REDIS_URL: a login allowed SCAN, UNLINK and ACL DELUSER (the admin's), to clear a function's keys. */
  readonly adminUrl: string | undefined;
  /** NIMBUS_STATE_SERVICE_URL: the gateway's state service, which function pods reach. */
  readonly serviceUrl: string | undefined;
  /** NIMBUS_STATE_KEY: function tokens are HMACs under it (the gateway holds it too). */
  readonly key: string | undefined;
  readonly commandTimeoutMs: number;
  /** NIMBUS_STATE_MAX_VALUE_BYTES, handed to the pods (the service enforces it again). */
  readonly maxValueBytes: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The cluster controller's settings, parsed once; a bad value stops start-up naming the key. */
export function loadClusterConfig(env: Env): ClusterConfig {
  const namespaces = parseWatchNamespaces(env.NIMBUS_WATCH_NAMESPACES) ?? [];
  const logLevel = readLogLevel(env);
  const runtimeImage = env.NIMBUS_RUNTIME_IMAGE ?? '';
  if (runtimeImage === '') throw new ConfigError('NIMBUS_RUNTIME_IMAGE', 'must name the runtime-node image');
  const gatewayUrl = env.NIMBUS_GATEWAY_URL ?? '';
  if (!/^https?:\/\/[^/]+/.test(gatewayUrl)) {
    throw new ConfigError(
      'NIMBUS_GATEWAY_URL',
      `must be an http(s) URL of the gateway's Service, got "${gatewayUrl}"`,
    );
  }
  const election = env.NIMBUS_LEADER_ELECTION || 'true';
  if (election !== 'true' && election !== 'false') {
    throw new ConfigError('NIMBUS_LEADER_ELECTION', `must be true or false, got "${election}"`);
  }
  let lease: LeaseSettings | undefined;
  if (election === 'true') {
    // The key the namespace came from, to name it when it is bad; with neither, the first.
    const namespaceKey =
      !env.NIMBUS_LEASE_NAMESPACE && env.POD_NAMESPACE ? 'POD_NAMESPACE' : 'NIMBUS_LEASE_NAMESPACE';
    const leaseNamespace = env[namespaceKey] ?? '';
    if (!isNamespace(leaseNamespace)) {
      throw new ConfigError(
        namespaceKey,
        `leader election needs the namespace of its Lease (NIMBUS_LEASE_NAMESPACE, or POD_NAMESPACE), got "${leaseNamespace}"`,
      );
    }
    // As client-go: retry < renew deadline < lease duration. Defaults follow the values given,
    // so shortening the lease alone keeps the three in order.
    const leaseDurationMs = readInt(env, 'NIMBUS_LEASE_DURATION_MS', 15_000, 1000, 600_000);
    const renewDeadlineMs = readInt(
      env,
      'NIMBUS_LEASE_RENEW_DEADLINE_MS',
      Math.min(10_000, Math.floor((leaseDurationMs * 2) / 3)),
      500,
      leaseDurationMs - 1,
    );
    const retryPeriodMs = readInt(
      env,
      'NIMBUS_LEASE_RETRY_MS',
      Math.min(2000, Math.floor(renewDeadlineMs / 2)),
      100,
      renewDeadlineMs - 1,
    );
    lease = Object.freeze({
      name: env.NIMBUS_LEASE_NAME || 'nimbus-controller',
      namespace: leaseNamespace,
      identity: env.POD_NAME || hostname(),
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    });
  }
  return Object.freeze({
    namespaces: Object.freeze(namespaces),
    runtimeImage,
    pythonRuntimeImage: env.NIMBUS_PYTHON_RUNTIME_IMAGE || undefined,
    gatewayUrl,
    runAsUser: readInt(env, 'NIMBUS_RUN_AS_USER', 10001, 1, 2_147_483_647),
    workers: readInt(env, 'NIMBUS_WORKERS', 4, 1, 64),
    resyncMs: readInt(env, 'NIMBUS_RESYNC_MS', 10 * 60_000, 1000, 24 * 3_600_000),
    triggerSecretCheckMs: readInt(env, 'NIMBUS_TRIGGER_SECRET_CHECK_MS', 30_000, 0, 3_600_000),
    lease,
    metricsHost: env.NIMBUS_METRICS_HOST || '0.0.0.0',
    metricsPort: readInt(env, 'NIMBUS_METRICS_PORT', 9090, 0, 65535),
    drainMs: readInt(env, 'NIMBUS_DRAIN_MS', 20_000, 0, 600_000),
    logLevel,
    tracing: loadTracingConfig(env, 'nimbus-controller'),
    reportToken: readReportToken(
      env,
      "the controller's port takes the gateways' reports and wakes, which scale functions",
    ),
    autoscaler: readAutoscalerTuning(env),
    warmPoolSize: readInt(env, 'NIMBUS_WARM_POOL_SIZE', 0, 0, 256),
    natsUrl: readNatsUrl(env),
    natsCredentials: readNatsCredentials(env),
    state: readStateConfig(env),
    errorDetail: env.NIMBUS_ERROR_DETAIL ? readErrorDetail(env, 'none') : undefined,
    functionIngress: readFunctionIngress(env),
    platformNamespace: readPlatformNamespace(env),
  });
}

/**
 * The platform pods function pods take connections from. Both selectors or neither: a policy
 * letting in the gateway but not the controller would cut the warm pool off, and the reverse
 * every caller.
 */
function readFunctionIngress(env: Env): FunctionIngress | undefined {
  const gateway = env.NIMBUS_GATEWAY_POD_SELECTOR || undefined;
  const controller = env.NIMBUS_CONTROLLER_POD_SELECTOR || undefined;
  if (gateway === undefined && controller === undefined) return undefined;
  if (gateway === undefined || controller === undefined) {
    const missing = gateway === undefined ? 'NIMBUS_GATEWAY_POD_SELECTOR' : 'NIMBUS_CONTROLLER_POD_SELECTOR';
    throw new ConfigError(
      missing,
      'must be set with the other pod selector: function NetworkPolicies let in both the gateway and the controller',
    );
  }
  const namespaceKey = env.NIMBUS_PLATFORM_NAMESPACE ? 'NIMBUS_PLATFORM_NAMESPACE' : 'POD_NAMESPACE';
  const platformNamespace = env[namespaceKey] ?? '';
  if (!isNamespace(platformNamespace)) {
    throw new ConfigError(
      namespaceKey,
      `function NetworkPolicies need the namespace the gateway and controller run in (NIMBUS_PLATFORM_NAMESPACE, or POD_NAMESPACE), got "${platformNamespace}"`,
    );
  }
  return Object.freeze({
    platformNamespace,
    gatewayPods: parseLabels('NIMBUS_GATEWAY_POD_SELECTOR', gateway),
    controllerPods: parseLabels('NIMBUS_CONTROLLER_POD_SELECTOR', controller),
  });
}

const LABEL_NAME = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** `key=value,key=value`, as `kubectl -l` takes equality selectors. */
function parseLabels(key: string, raw: string): Readonly<Record<string, string>> {
  const labels: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (eq === -1 || !LABEL_NAME.test(name) || !LABEL_VALUE.test(value)) {
      throw new ConfigError(key, `must be label=value pairs separated by commas, got "${raw}"`);
    }
    labels[name] = value;
  }
  return Object.freeze(labels);
}

/**
 * NIMBUS_REDIS_URL (with NIMBUS_REDIS_COMMAND_TIMEOUT_MS and NIMBUS_STATE_MAX_VALUE_BYTES, as the
 * store reads them), NIMBUS_STATE_SERVICE_URL and NIMBUS_STATE_KEY (at least 32 characters), which
 * go together. Undefined when none is set.
 */
function readStateConfig(env: Env): StateConfig | undefined {
  const store = parseStoreConfig(env);
  if (env.NIMBUS_STATE_REDIS_URL)
    throw new ConfigError(
      'NIMBUS_STATE_REDIS_URL',
      'is no longer used: functions do not connect to Redis; set NIMBUS_STATE_SERVICE_URL (the gateway state service) instead',
    );
  const serviceUrl = env.NIMBUS_STATE_SERVICE_URL || undefined;
  const key = env.NIMBUS_STATE_KEY || undefined;
  if (store.redisUrl === undefined && serviceUrl === undefined && key === undefined) return undefined;
  if (serviceUrl !== undefined && !/^https?:\/\/[^\s/@]+\/?$/.test(serviceUrl))
    throw new ConfigError(
      'NIMBUS_STATE_SERVICE_URL',
      `must be the http(s) base URL of the gateway's state service, e.g. http://nimbus-gateway-state.nimbus.svc:8081, got "${serviceUrl}"`,
    );
  if ((serviceUrl === undefined) !== (key === undefined))
    throw new ConfigError(
      serviceUrl === undefined ? 'NIMBUS_STATE_SERVICE_URL' : 'NIMBUS_STATE_KEY',
      'NIMBUS_STATE_SERVICE_URL and NIMBUS_STATE_KEY go together: function tokens are made with the key for that service',
    );
  if (key !== undefined && key.length < MIN_STATE_KEY_LENGTH)
    throw new ConfigError('NIMBUS_STATE_KEY', `must have at least ${MIN_STATE_KEY_LENGTH} characters`);
  return Object.freeze({
    adminUrl: store.redisUrl,
    serviceUrl: serviceUrl?.replace(/\/$/, ''),
    key,
    commandTimeoutMs: store.commandTimeoutMs,
    maxValueBytes: store.state.maxValueBytes,
  });
}

function readPlatformNamespace(env: Env): string | undefined {
  const key = env.NIMBUS_PLATFORM_NAMESPACE ? 'NIMBUS_PLATFORM_NAMESPACE' : 'POD_NAMESPACE';
  const value = env[key] || undefined;
  if (value !== undefined && !isNamespace(value))
    throw new ConfigError(key, `must be a namespace (a lower-case RFC 1123 label), got "${value}"`);
  return value;
}
