import assert from 'node:assert/strict';
import type { FunctionScale } from '@nimbus/api';
import {
  AUTOSCALER_DEFAULTS,
  type AutoscalerConfig,
  autoscalerConfig,
  configFromSpec,
} from '../src/autoscale/config.js';

const SCALE: FunctionScale = { min: 0, max: 20, target: 10, scaleToZeroAfter: '90s' };

describe('configFromSpec', () => {
  it("takes spec.scale and Knative's defaults for the rest", () => {
    assert.deepEqual(configFromSpec(SCALE), {
      target: 10,
      utilisation: 0.7,
      min: 0,
      max: 20,
      scaleToZeroAfterMs: 90_000,
      stableWindowMs: 60_000,
      panicWindowMs: 6_000,
      panicThreshold: 2,
      maxScaleUpRate: 1000,
      maxScaleDownRate: 2,
      initialScale: 1,
    });
  });

  it("takes the platform's tuning over the defaults, never over the spec", () => {
    const config = configFromSpec(
      { ...SCALE, scaleToZeroAfter: '1m30s' },
      { utilisation: 1, maxScaleDownRate: 4, initialScale: 0 },
    );
    assert.equal(config.utilisation, 1);
    assert.equal(config.maxScaleDownRate, 4);
    assert.equal(config.initialScale, 0);
    assert.equal(config.scaleToZeroAfterMs, 90_000);
    assert.equal(config.panicThreshold, 2);
  });

  it('is frozen, and so are the defaults', () => {
    assert.ok(Object.isFrozen(configFromSpec(SCALE)));
    assert.ok(Object.isFrozen(AUTOSCALER_DEFAULTS));
  });

  it('refuses a scaleToZeroAfter that is not a duration', () => {
    assert.throws(() => configFromSpec({ ...SCALE, scaleToZeroAfter: 'soon' }), /"soon" is not a duration/);
  });
});

describe('autoscalerConfig', () => {
  const good = configFromSpec(SCALE);
  const cases: { name: string; change: Partial<AutoscalerConfig>; error: RegExp }[] = [
    { name: 'target 0', change: { target: 0 }, error: /autoscaler target must be above 0, got 0/ },
    { name: 'utilisation 0', change: { utilisation: 0 }, error: /autoscaler utilisation must be above 0/ },
    { name: 'utilisation above 1', change: { utilisation: 1.2 }, error: /utilisation .*at most 1, got 1.2/ },
    { name: 'a fractional min', change: { min: 0.5 }, error: /autoscaler min must be a whole number/ },
    {
      name: 'max below min',
      change: { min: 5, max: 3 },
      error: /autoscaler max must be .*at least 1 and min, got 3/,
    },
    { name: 'max 0', change: { max: 0 }, error: /autoscaler max must be/ },
    {
      name: 'a negative scaleToZeroAfterMs',
      change: { scaleToZeroAfterMs: -1 },
      error: /scaleToZeroAfterMs/,
    },
    { name: 'a zero stable window', change: { stableWindowMs: 0 }, error: /stableWindowMs must be above 0/ },
    {
      name: 'a panic window longer than the stable window',
      change: { panicWindowMs: 61_000 },
      error: /panicWindowMs must be above 0 and at most stableWindowMs, got 61000/,
    },
    { name: 'panic threshold 1', change: { panicThreshold: 1 }, error: /panicThreshold must be above 1/ },
    {
      name: 'up rate 1 (could never grow)',
      change: { maxScaleUpRate: 1 },
      error: /maxScaleUpRate must be above 1/,
    },
    { name: 'down rate 1 (could never shrink)', change: { maxScaleDownRate: 1 }, error: /maxScaleDownRate/ },
    {
      name: 'a fractional initial scale',
      change: { initialScale: 1.5 },
      error: /initialScale must be a whole number/,
    },
    { name: 'NaN anywhere', change: { panicThreshold: Number.NaN }, error: /panicThreshold .*got NaN/ },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}, naming the field`, () => {
      assert.throws(() => autoscalerConfig({ ...good, ...c.change }), c.error);
    });
  }

  it('accepts the edges: min 0, utilisation 1, panic window equal to the stable window, initial scale 0', () => {
    const config = autoscalerConfig({
      ...good,
      min: 0,
      utilisation: 1,
      panicWindowMs: 60_000,
      initialScale: 0,
    });
    assert.equal(config.panicWindowMs, 60_000);
  });
});
