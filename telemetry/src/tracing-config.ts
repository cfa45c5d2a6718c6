import { ConfigError, type Env } from '@nimbus/api';

/** Whether and where a component sends its spans, read once at start-up. */
export interface TracingConfig {
  /** The OTLP/HTTP traces URL spans are posted to; undefined: tracing is off and costs nothing. */
  readonly endpoint: string | undefined;
  /**
   * The share of traces started here that are recorded, 0 to 1. A caller's own `traceparent`
   * decides for its trace (parent-based sampling), so one trace is never recorded in part.
   */
  readonly sampleRatio: number;
  /** `service.name` on every span: which component made it. */
  readonly serviceName: string;
}

/**
 * `NIMBUS_TRACING_ENDPOINT` (an OTLP/HTTP traces URL such as `http://collector:4318/v1/traces`),
 * else OpenTelemetry's own `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the same) or
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL, `/v1/traces` added), so an operator's existing
 * collector settings work as they are; `NIMBUS_TRACING_SAMPLE_RATIO` (0 to 1, default 1).
 * Pure; a bad value throws a ConfigError naming the variable.
 */
export function loadTracingConfig(env: Env, serviceName: string): TracingConfig {
  const sampleRatio = readRatio(env, 'NIMBUS_TRACING_SAMPLE_RATIO', 1);
  for (const key of ['NIMBUS_TRACING_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] as const) {
    const raw = env[key];
    if (raw) return Object.freeze({ endpoint: httpUrl(key, raw), sampleRatio, serviceName });
  }
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (base) {
    const url = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base);
    return Object.freeze({ endpoint: `${url.replace(/\/+$/, '')}/v1/traces`, sampleRatio, serviceName });
  }
  return Object.freeze({ endpoint: undefined, sampleRatio, serviceName });
}

function httpUrl(key: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(key, `must be an http:// or https:// URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(key, `must be an http:// or https:// URL, got "${raw}"`);
  }
  // Credentials in the URL would be logged wherever the config is; headers are the place for them.
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(key, 'must not carry a user name or password');
  }
  return url.href;
}

function readRatio(env: Env, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = /^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= 0 && value <= 1)) throw new ConfigError(key, `must be a number from 0 to 1, got "${raw}"`);
  return value;
}
