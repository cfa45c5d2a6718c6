import { distribution } from './stats.js';

/** What a cold start of the runtime is held to. */
export const SPAWN_TARGETS = Object.freeze({
  /** Runtime p50 from spawn() to the first 200, in ms, at most. */
  maxP50Ms: 150,
  /** runtime-python's p50 over a bare Python http.server's, measured in the same run, at most. */
  maxPythonRatio: 1.3,
  /** An idle replica's resident memory over a bare server's of its language, at most (issue 14). */
  maxRssRatio: 1.2,
});

export interface SpawnSummary {
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly max_ms: number;
  readonly baseline_p50_ms: number;
  readonly baseline_p90_ms: number;
  readonly baseline_max_ms: number;
  readonly ratio_to_baseline: number;
  readonly pass_p50_ms: boolean;
}

export function summarizeSpawn(runtimeMs: readonly number[], baselineMs: readonly number[]): SpawnSummary {
  const runtime = distribution(runtimeMs, 50, 90);
  const baseline = distribution(baselineMs, 50, 90);
  return {
    p50_ms: runtime.p50,
    p90_ms: runtime.p90,
    max_ms: runtime.max,
    baseline_p50_ms: baseline.p50,
    baseline_p90_ms: baseline.p90,
    baseline_max_ms: baseline.max,
    ratio_to_baseline: runtime.p50 / baseline.p50,
    pass_p50_ms: runtime.p50 <= SPAWN_TARGETS.maxP50Ms,
  };
}
