import { hostname } from 'node:os';
import {
  ConfigError,
  type LogLevel,
  isNamespace,
  parseWatchNamespaces,
  readInt,
  readLogLevel,
  readReportToken,
} from '@nimbus/api';
import { loadKubeConfig } from '@nimbus/kube';
import { type GatewayConfig, loadGatewayConfig } from '../config.js';
import { type PeerEntry, parsePeerEntry } from './controller-peers.js';

type KubeConfig = ReturnType<typeof loadKubeConfig>;

/** The gateway's settings in a cluster: the gateway's own, plus where the cluster is and what to watch. */
export interface ClusterConfig {
  readonly gateway: GatewayConfig;
  /** Namespaces whose Functions this gateway serves; undefined for all. */
  readonly watchNamespaces: readonly string[] | undefined;
  readonly logLevel: LogLevel;
  /**
   * After SIGTERM the gateway reports not ready and goes on serving this long, while the pod is
   * taken out of the Service's endpoints, so clients routed to it meanwhile are not refused.
   */
  readonly shutdownDelayMs: number;
  /** Then requests in flight get this long to finish before their connections are cut. */
  readonly drainTimeoutMs: number;
  /** The API server and credentials: KUBECONFIG, else the pod's service account. */
  readonly kubeConfig: KubeConfig;
  /**
   * The controllers' base URLs, or `dns+http://…` names of a headless Service looked up for every
   * pod behind it: where the gateway reports each function's concurrency and sends wakes (empty:
   * nowhere).
   */
  readonly controllers: readonly PeerEntry[];
  /** How long a wake waits for the leader's answer. */
  readonly wakeTimeoutMs: number;
  /** How often it reports; the controller's autoscaler samples once a second. */
  readonly reportIntervalMs: number;
  /** This gateway's name in its reports (its pod's name). */
  readonly reporter: string;
  /**
   * The Bearer token of reports and wakes. Always required in a cluster, as the controller requires
   * it: a gateway that starts without it would fail every wake and report once controllers are
   * named, so it is better refused at start than found missing at the first cold start.
   */
  readonly reportToken: string;
  /**
   * The namespace the gateway runs in (NIMBUS_PLATFORM_NAMESPACE, or POD_NAMESPACE), where the
   * controller keeps the copies of source triggers' Secrets; undefined: source triggers that need a
   * Secret cannot start, and say why.
   */
  readonly platformNamespace: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadClusterConfig(env: Env): ClusterConfig {
  const logLevel = readLogLevel(env);
  const gateway = loadGatewayConfig(env);
  const watchNamespaces = parseWatchNamespaces(env.NIMBUS_WATCH_NAMESPACES);
  const drainTimeoutMs = readInt(env, 'NIMBUS_DRAIN_TIMEOUT_MS', 25_000, 0, 3_600_000);
  const shutdownDelayMs = readInt(env, 'NIMBUS_SHUTDOWN_DELAY_MS', 5000, 0, 120_000);
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = loadKubeConfig(env);
  } catch (err) {
    throw new ConfigError('KUBECONFIG', (err as Error).message, { cause: err });
  }
  const controllers: PeerEntry[] = [];
  for (const raw of (env.NIMBUS_CONTROLLER_URLS ?? '').split(',').map((u) => u.trim())) {
    if (raw === '') continue;
    const entry = parsePeerEntry(raw);
    if (entry === undefined) {
      throw new ConfigError(
        'NIMBUS_CONTROLLER_URLS',
        `"${raw}" is neither an http(s) base URL such as http://10.0.0.5:9090 nor dns+http://<headless service>:<port>`,
      );
    }
    controllers.push(entry);
  }
  const reportToken = readReportToken(
    env,
    "the gateway's reports and wakes carry it, and the controllers refuse them without it",
  );
  return Object.freeze({
    gateway,
    watchNamespaces,
    logLevel,
    shutdownDelayMs,
    drainTimeoutMs,
    kubeConfig,
    controllers: Object.freeze(controllers),
    reportIntervalMs: readInt(env, 'NIMBUS_REPORT_INTERVAL_MS', 1000, 50, 60_000),
    wakeTimeoutMs: readInt(env, 'NIMBUS_WAKE_REQUEST_TIMEOUT_MS', 5000, 100, 60_000),
    reporter: env.POD_NAME || hostname(),
    reportToken,
    platformNamespace: platformNamespaceOf(env),
  });
}

function platformNamespaceOf(env: Env): string | undefined {
  const key = env.NIMBUS_PLATFORM_NAMESPACE ? 'NIMBUS_PLATFORM_NAMESPACE' : 'POD_NAMESPACE';
  const value = env[key] || undefined;
  if (value !== undefined && !isNamespace(value))
    throw new ConfigError(key, `must be a namespace (a lower-case RFC 1123 label), got "${value}"`);
  return value;
}
