import assert from 'node:assert/strict';
import { ConfigError } from '@nimbus/api';
import { loadTracingConfig } from '../src/tracing-config.js';

describe('loadTracingConfig', () => {
  it('is off with no endpoint, and samples every trace started here by default', () => {
    assert.deepEqual(loadTracingConfig({}, 'nimbus-gateway'), {
      endpoint: undefined,
      sampleRatio: 1,
      serviceName: 'nimbus-gateway',
    });
  });

  it('takes NIMBUS_TRACING_ENDPOINT first, then OpenTelemetry’s own variables', () => {
    const all = {
      NIMBUS_TRACING_ENDPOINT: 'http://ours:4318/v1/traces',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/v1/traces',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://base:4318/',
    };
    assert.equal(loadTracingConfig(all, 's').endpoint, 'http://ours:4318/v1/traces');
    const { NIMBUS_TRACING_ENDPOINT: _, ...otel } = all;
    assert.equal(loadTracingConfig(otel, 's').endpoint, 'http://traces:4318/v1/traces');
    // The base URL gets the traces path, as OpenTelemetry's exporters add it.
    assert.equal(
      loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://base:4318/' }, 's').endpoint,
      'https://base:4318/v1/traces',
    );
  });

  it('reads the sample ratio from 0 to 1', () => {
    for (const [raw, ratio] of [
      ['0', 0],
      ['0.1', 0.1],
      ['.25', 0.25],
      ['1', 1],
      ['1.0', 1],
    ] as const) {
      assert.equal(loadTracingConfig({ NIMBUS_TRACING_SAMPLE_RATIO: raw }, 's').sampleRatio, ratio, raw);
    }
  });

  it('refuses a bad value, naming the variable', () => {
    for (const [key, value] of [
      ['NIMBUS_TRACING_SAMPLE_RATIO', '1.5'],
      ['NIMBUS_TRACING_SAMPLE_RATIO', '-0.1'],
      ['NIMBUS_TRACING_SAMPLE_RATIO', '10%'],
      ['NIMBUS_TRACING_ENDPOINT', 'collector:4318'],
      ['NIMBUS_TRACING_ENDPOINT', 'grpc://collector:4317'],
      ['NIMBUS_TRACING_ENDPOINT', 'http://user:secret@collector:4318/v1/traces'],
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'file:///tmp/x'],
    ] as const) {
      assert.throws(
        () => loadTracingConfig({ [key]: value }, 's'),
        (err: unknown) => err instanceof ConfigError && err.key === key,
        `${key}=${value}`,
      );
    }
  });
});
