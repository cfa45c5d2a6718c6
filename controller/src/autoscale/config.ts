import { type FunctionScale, parseDuration } from '@nimbus/api';
import { ConfigError, readInt } from '@nimbus/api';

/** Everything the decider needs to know about one function's scaling, in plain numbers. */
export interface AutoscalerConfig {
  /** Concurrent requests per replica to aim for: `spec.scale.target`. */
  readonly target: number;
  /** Share of `target` to actually fill, leaving headroom for bursts (Knative: 70%). */
  readonly utilisation: number;
  readonly min: number;
  readonly max: number;
  /** Time without any in-flight request before a function with `min: 0` goes to zero. */
  readonly scaleToZeroAfterMs: number;
  readonly stableWindowMs: number;
  readonly panicWindowMs: number;
  /** Panic when the panic window asks for this many times the ready replicas. */
  readonly panicThreshold: number;
  /** One decision asks for at most `ceil(rate × ready)` replicas. */
  readonly maxScaleUpRate: number;
  /** One decision asks for at least `floor(ready / rate)` replicas. */
  readonly maxScaleDownRate: number;
  /** Replicas for a function the decider has never seen. */
  readonly initialScale: number;
}

/** The settings a Function's spec does not carry: the same for every function on a platform. */
export type AutoscalerTuning = Omit<AutoscalerConfig, keyof FunctionScale | 'scaleToZeroAfterMs'>;

/** Knative Serving's `config-autoscaler` defaults. */
export const AUTOSCALER_DEFAULTS: Readonly<AutoscalerTuning> = Object.freeze({
  utilisation: 0.7,
  stableWindowMs: 60_000,
  panicWindowMs: 6_000,
  panicThreshold: 2,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  initialScale: 1,
});

/** A Function's `spec.scale` with the platform's tuning (defaults unless given), checked and frozen. */
export function configFromSpec(
  scale: FunctionScale,
  tuning: Partial<AutoscalerTuning> = {},
): AutoscalerConfig {
  return autoscalerConfig({
    ...AUTOSCALER_DEFAULTS,
    ...tuning,
    target: scale.target,
    min: scale.min,
    max: scale.max,
    scaleToZeroAfterMs: parseDuration(scale.scaleToZeroAfter),
  });
}

/**
 * Checks a whole config and freezes it; throws naming the field and its allowed range. The API
 * server already refuses a bad `spec.scale`, but the tuning comes from the operator, and a rate
 * of 1 or a zero window would stall or divide by zero rather than fail.
 */
export function autoscalerConfig(config: AutoscalerConfig): AutoscalerConfig {
  const check = (field: keyof AutoscalerConfig, ok: (v: number) => boolean, range: string): void => {
    const value = config[field];
    if (!Number.isFinite(value) || !ok(value)) {
      throw new RangeError(`autoscaler ${field} must be ${range}, got ${value}`);
    }
  };
  check('target', (v) => v > 0, 'above 0');
  check('utilisation', (v) => v > 0 && v <= 1, 'above 0 and at most 1');
  check('min', (v) => Number.isInteger(v) && v >= 0, 'a whole number, 0 or more');
  check(
    'max',
    (v) => Number.isInteger(v) && v >= Math.max(1, config.min),
    'a whole number, at least 1 and min',
  );
  check('scaleToZeroAfterMs', (v) => v >= 0, '0 or more');
  check('stableWindowMs', (v) => v > 0, 'above 0');
  check('panicWindowMs', (v) => v > 0 && v <= config.stableWindowMs, 'above 0 and at most stableWindowMs');
  check('panicThreshold', (v) => v > 1, 'above 1');
  check('maxScaleUpRate', (v) => v > 1, 'above 1');
  check('maxScaleDownRate', (v) => v > 1, 'above 1');
  check('initialScale', (v) => Number.isInteger(v) && v >= 0, 'a whole number, 0 or more');
  return Object.freeze({ ...config });
}

type Env = Readonly<Record<string, string | undefined>>;

/** A decimal number within `(above, atMost]`; digits and one point only. */
function readDecimal(env: Env, key: string, above: number, atMost: number): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value > above && value <= atMost)) {
    throw new ConfigError(key, `must be a number above ${above} and at most ${atMost}, got "${raw}"`);
  }
  return value;
}

/**
 * The platform's autoscaler tuning from `NIMBUS_AUTOSCALER_*`, for the cluster controller and
 * local mode alike; a setting left unset keeps Knative's default. Throws ConfigError naming the key.
 */
export function readAutoscalerTuning(env: Env): Partial<AutoscalerTuning> {
  const tuning: { -readonly [K in keyof AutoscalerTuning]?: AutoscalerTuning[K] } = {};
  const set = <K extends keyof AutoscalerTuning>(field: K, value: AutoscalerTuning[K] | undefined) => {
    if (value !== undefined) tuning[field] = value;
  };
  const has = (key: string) => env[key] !== undefined && env[key] !== '';
  const stableKey = 'NIMBUS_AUTOSCALER_STABLE_WINDOW_MS';
  const stable = readInt(env, stableKey, AUTOSCALER_DEFAULTS.stableWindowMs, 1000, 3_600_000);
  if (has(stableKey)) set('stableWindowMs', stable);
  const panicKey = 'NIMBUS_AUTOSCALER_PANIC_WINDOW_MS';
  if (has(panicKey)) set('panicWindowMs', readInt(env, panicKey, 0, 100, stable));
  else if (stable < AUTOSCALER_DEFAULTS.panicWindowMs) set('panicWindowMs', stable);
  set('utilisation', readDecimal(env, 'NIMBUS_AUTOSCALER_UTILISATION', 0, 1));
  set('panicThreshold', readDecimal(env, 'NIMBUS_AUTOSCALER_PANIC_THRESHOLD', 1, 1000));
  set('maxScaleUpRate', readDecimal(env, 'NIMBUS_AUTOSCALER_MAX_SCALE_UP_RATE', 1, 100_000));
  set('maxScaleDownRate', readDecimal(env, 'NIMBUS_AUTOSCALER_MAX_SCALE_DOWN_RATE', 1, 100_000));
  const initialKey = 'NIMBUS_AUTOSCALER_INITIAL_SCALE';
  if (has(initialKey)) set('initialScale', readInt(env, initialKey, 1, 0, 1000));
  return Object.freeze(tuning);
}
