import { ConfigError, type Env, readInt } from '@nimbus/api';
import { DEFAULT_STATS, type StatsConfig } from '../stats/function-stats.js';

/** The dashboard at /ui and the history behind its plots. */
export interface UiConfig {
  readonly stats: StatsConfig;
  /**
   * NIMBUS_TRACING_UI_URL: the operator's tracing UI, with `{traceId}` where a trace's id goes
   * (Jaeger: `https://jaeger.example/trace/{traceId}`). A call with a trace id links there.
   */
  readonly tracingUiUrl: string | undefined;
}

export const TRACE_ID_PLACEHOLDER = '{traceId}';

/**
 * NIMBUS_STATS_INTERVAL_MS sets the time between points; the plots keep 360 of them (an hour at
 * the default 10 s), so memory per function does not grow with a shorter interval.
 */
export function readUiConfig(env: Env): UiConfig {
  return Object.freeze({
    stats: Object.freeze({
      ...DEFAULT_STATS,
      intervalMs: readInt(env, 'NIMBUS_STATS_INTERVAL_MS', DEFAULT_STATS.intervalMs, 1000, 60_000),
    }),
    tracingUiUrl: readTracingUiUrl(env.NIMBUS_TRACING_UI_URL),
  });
}

/** An http(s) URL holding `{traceId}` once; anything else would make a link to nowhere, or a script. */
function readTracingUiUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const fail = (why: string) => new ConfigError('NIMBUS_TRACING_UI_URL', why);
  if (raw.split(TRACE_ID_PLACEHOLDER).length !== 2)
    throw fail(
      `must hold ${TRACE_ID_PLACEHOLDER} once, as in https://jaeger.example/trace/${TRACE_ID_PLACEHOLDER}`,
    );
  let url: URL;
  try {
    url = new URL(raw.replace(TRACE_ID_PLACEHOLDER, 'x'));
  } catch {
    throw fail(`"${raw.slice(0, 80)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw fail('must be an http or https URL');
  return raw;
}
