import { type FunctionScale, parseDuration } from '@nimbus/api';

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
