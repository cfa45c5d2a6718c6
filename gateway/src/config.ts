import { ConfigError, DEFAULT_NAMESPACE, type Env, isNamespace, readInt } from '@nimbus/api';
import type { StoreConfig } from '@nimbus/store';
import { type TracingConfig, loadTracingConfig } from '@nimbus/telemetry';
import { type AsyncConfig, readAsyncConfig, readStoreConfig } from './async/async-config.js';
import { type EgressConfig, readEgressConfig } from './egress/egress-config.js';
import { type EventsConfig, readEventsConfig } from './events/events-config.js';
import { parseRate } from './quotas/rate-config.js';
import type { Rate } from './quotas/rate-limit-plan.js';
import { type ScheduleConfig, readScheduleConfig } from './schedules/schedule-config.js';
import { type SourcesConfig, readSourcesConfig } from './sources/sources-config.js';
import { type StateServiceConfig, readStateServiceConfig } from './state/state-service-config.js';
import { type UiConfig, readUiConfig } from './ui/ui-config.js';

export type Scope = 'admin' | 'invoke';

export interface ApiKeyConfig {
  scope: Scope;
  key: string;
  /** Calls this key may make per second, over every function and gateway replica. */
  rate?: Rate;
}

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  /**
   * NIMBUS_METRICS_PORT: where `/metrics` is served without a key, for Prometheus (the chart sets
   * it). Undefined: no such port; `/metrics` on the public port always needs an admin key.
   */
  readonly metricsPort: number | undefined;
  /** Largest request body accepted on the invoke path; larger gets 413. */
  readonly maxBodyBytes: number;
  /** Added to a function's own timeout, so the replica's 504 reaches the caller before the gateway gives up. */
  readonly timeoutGraceMs: number;
  readonly defaultNamespace: string;
  /**
   * Where `openfaas-fn`, OpenFaaS's default namespace that faas-cli names when told none, is
   * read as (NIMBUS_OPENFAAS_NAMESPACE; default: the default namespace).
   */
  readonly openfaasNamespace: string;
  readonly apiKeys: readonly ApiKeyConfig[];
  /** The rate limit of every API key that names none of its own (NIMBUS_KEY_RATE_LIMIT); none when unset. */
  readonly keyRateLimit: Rate | undefined;
  /** Connections kept open to each replica. */
  readonly upstreamMaxSockets: number;
  /** A client must send its request headers within this time. */
  readonly headersTimeoutMs: number;
  /** A client must send its whole request (headers and body) within this time. */
  readonly requestTimeoutMs: number;
  /** Requests held per function while it has no ready replica; beyond it, 503. 0: none held. */
  readonly holdQueueSize: number;
  /** How long a held request waits for a ready replica before it gets 503 with the reason. */
  readonly wakeTimeoutMs: number;
  /** Async calls: NATS, workers, callbacks. */
  readonly async: AsyncConfig;
  /** Redis (NIMBUS_REDIS_URL) or in memory: call records, dead letters, claims. */
  readonly store: StoreConfig;
  /** Cron triggers: this replica's name in its claims, and how late a missed tick may fire. */
  readonly schedules: ScheduleConfig;
  /** ctx.publish and destinations: the data limit, the hop bound and the key events are sealed with. */
  readonly events: EventsConfig;
  /** Event-source triggers: how long a rotated secret of a pushed trigger is still accepted. */
  readonly sources: SourcesConfig;
  /** ctx.state for function pods, on a port of its own; undefined: not served (local mode). */
  readonly stateService: StateServiceConfig | undefined;
  /** Where caller-steered requests (X-Callback-Url) may go besides public addresses. */
  readonly egress: EgressConfig;
  /** Where this gateway's spans go (issue 15); off unless an OTLP endpoint is set. */
  readonly tracing: TracingConfig;
  /** The dashboard at /ui: its plots' history and the tracing UI it links calls to. */
  readonly ui: UiConfig;
}

/** What differs between the hosts of a gateway before any setting is read. */
export interface GatewayDefaults {
  /** NIMBUS_EGRESS_ALLOW when unset: nothing in a cluster; local mode allows loopback. */
  readonly egressAllow?: string;
}

/**
 * `NIMBUS_API_KEYS`: comma-separated `scope:key` pairs, for example `admin:3f9…,invoke:8c1…`.
 * An admin key may also invoke. An entry may end in `;rate=<per second>[/<burst>]`, the key's own
 * rate limit (`invoke:8c1…;rate=50/100`). Errors name the entry, never the key.
 */
export function parseApiKeys(raw: string | undefined): ApiKeyConfig[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((text, index) => {
    let entry = text;
    let rate: Rate | undefined;
    const options = /;rate=([^;]*)$/.exec(entry);
    if (options !== null) {
      rate = parseRate(options[1] as string, 'NIMBUS_API_KEYS', `entry ${index + 1}: rate `);
      entry = entry.slice(0, options.index);
    }
    const colon = entry.indexOf(':');
    const scope = entry.slice(0, colon).trim();
    const key = entry.slice(colon + 1).trim();
    if (colon === -1 || (scope !== 'admin' && scope !== 'invoke')) {
      throw new ConfigError('NIMBUS_API_KEYS', `entry ${index + 1} must be admin:<key> or invoke:<key>`);
    }
    if (key.length < 16) {
      throw new ConfigError('NIMBUS_API_KEYS', `entry ${index + 1}: a key must have at least 16 characters`);
    }
    return rate === undefined ? { scope, key } : { scope, key, rate };
  });
}

export function loadGatewayConfig(env: Env, defaults: GatewayDefaults = {}): GatewayConfig {
  const defaultNamespace = env.NIMBUS_DEFAULT_NAMESPACE || DEFAULT_NAMESPACE;
  if (!isNamespace(defaultNamespace)) {
    throw new ConfigError('NIMBUS_DEFAULT_NAMESPACE', `"${defaultNamespace}" is not an RFC 1123 label`);
  }
  const openfaasNamespace = env.NIMBUS_OPENFAAS_NAMESPACE || defaultNamespace;
  if (!isNamespace(openfaasNamespace)) {
    throw new ConfigError('NIMBUS_OPENFAAS_NAMESPACE', `"${openfaasNamespace}" is not an RFC 1123 label`);
  }
  const headersTimeoutMs = readInt(env, 'NIMBUS_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000);
  const requestTimeoutMs = readInt(env, 'NIMBUS_REQUEST_TIMEOUT_MS', 120_000, 100, 3_600_000);
  if (requestTimeoutMs < headersTimeoutMs) {
    throw new ConfigError(
      'NIMBUS_REQUEST_TIMEOUT_MS',
      `must be at least NIMBUS_HEADERS_TIMEOUT_MS (${headersTimeoutMs})`,
    );
  }
  return Object.freeze({
    host: env.HOST || '0.0.0.0',
    port: readInt(env, 'PORT', 8080, 0, 65535),
    metricsPort: env.NIMBUS_METRICS_PORT ? readInt(env, 'NIMBUS_METRICS_PORT', 0, 0, 65535) : undefined,
    maxBodyBytes: readInt(env, 'NIMBUS_MAX_BODY_BYTES', 6 * 1024 * 1024, 1, 1024 * 1024 * 1024),
    timeoutGraceMs: readInt(env, 'NIMBUS_TIMEOUT_GRACE_MS', 1000, 0, 60_000),
    defaultNamespace,
    openfaasNamespace,
    apiKeys: Object.freeze(parseApiKeys(env.NIMBUS_API_KEYS)),
    keyRateLimit: env.NIMBUS_KEY_RATE_LIMIT
      ? parseRate(env.NIMBUS_KEY_RATE_LIMIT, 'NIMBUS_KEY_RATE_LIMIT')
      : undefined,
    upstreamMaxSockets: readInt(env, 'NIMBUS_UPSTREAM_MAX_SOCKETS', 256, 1, 65535),
    headersTimeoutMs,
    requestTimeoutMs,
    holdQueueSize: readInt(env, 'NIMBUS_HOLD_QUEUE_SIZE', 1000, 0, 1_000_000),
    wakeTimeoutMs: readInt(env, 'NIMBUS_WAKE_TIMEOUT_MS', 30_000, 1, 600_000),
    async: readAsyncConfig(env),
    store: readStoreConfig(env),
    schedules: readScheduleConfig(env),
    stateService: readStateServiceConfig(env),
    events: readEventsConfig(env),
    sources: readSourcesConfig(env),
    egress: readEgressConfig(env, defaults.egressAllow),
    tracing: loadTracingConfig(env, 'nimbus-gateway'),
    ui: readUiConfig(env),
  });
}
