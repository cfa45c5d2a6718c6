import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, MetricsRegistry, formatValue } from '../src/metrics/metrics.js';
import { RuntimeMetrics } from '../src/metrics/runtime-metrics.js';

describe('metrics', () => {
  it('renders a labelled counter with HELP and TYPE', () => {
    const counter = new Counter('requests_total', 'All requests.');
    counter.inc({ code: '200' });
    counter.inc({ code: '200' });
    counter.inc({ code: '500' }, 3);
    assert.equal(
      counter.render(),
      '# HELP requests_total All requests.\n# TYPE requests_total counter\n' +
        'requests_total{code="200"} 2\nrequests_total{code="500"} 3\n',
    );
    assert.equal(counter.get({ code: '200' }), 2);
  });

  it('refuses to decrease a counter', () => {
    assert.throws(() => new Counter('c_total', 'c').inc({}, -1), /can only increase/);
  });

  it('escapes label values and help text', () => {
    const counter = new Counter('c_total', 'line one\nback\\slash');
    counter.inc({ path: 'a"b\\c\nd' });
    assert.equal(
      counter.render(),
      '# HELP c_total line one\\nback\\\\slash\n# TYPE c_total counter\nc_total{path="a\\"b\\\\c\\nd"} 1\n',
    );
  });

  it('orders labels by name so the same set is one series', () => {
    const counter = new Counter('c_total', 'c');
    counter.inc({ b: '2', a: '1' });
    counter.inc({ a: '1', b: '2' });
    assert.match(counter.render(), /^c_total\{a="1",b="2"\} 2$/m);
  });

  it('renders a gauge that is set and one that is collected at scrape time', () => {
    const set = new Gauge('set_gauge', 'g');
    set.set(1.5);
    let live = 3;
    const collected = new Gauge('live_gauge', 'g', () => live);
    live = 7;
    assert.match(set.render(), /^set_gauge 1\.5$/m);
    assert.match(collected.render(), /^live_gauge 7$/m);
    assert.match(new Gauge('unset_gauge', 'g').render(), /^unset_gauge 0$/m);
  });

  it('renders cumulative histogram buckets, +Inf, sum and count', () => {
    const histogram = new Histogram('d_seconds', 'd', [1, 0.5]);
    histogram.observe(0.25);
    histogram.observe(0.5);
    histogram.observe(0.75);
    histogram.observe(4);
    assert.equal(
      histogram.render(),
      '# HELP d_seconds d\n# TYPE d_seconds histogram\n' +
        'd_seconds_bucket{le="0.5"} 2\nd_seconds_bucket{le="1"} 3\nd_seconds_bucket{le="+Inf"} 4\n' +
        'd_seconds_sum 5.5\nd_seconds_count 4\n',
    );
  });

  it('formats special values the Prometheus way', () => {
    assert.equal(formatValue(Number.POSITIVE_INFINITY), '+Inf');
    assert.equal(formatValue(Number.NEGATIVE_INFINITY), '-Inf');
    assert.equal(formatValue(Number.NaN), 'NaN');
    assert.equal(formatValue(0.001), '0.001');
  });

  it('refuses invalid or duplicate names', () => {
    assert.throws(() => new Counter('bad-name', 'x'), /invalid metric name/);
    const registry = new MetricsRegistry();
    registry.register(new Counter('a_total', 'a'));
    assert.throws(() => registry.register(new Counter('a_total', 'a')), /already registered/);
  });

  it('exposes the runtime metric set', () => {
    const limiter = { inflight: 2, queued: 1 };
    const handler = { loaded: true };
    const metrics = new RuntimeMetrics(limiter, handler);
    metrics.observe(200, 0.003);
    metrics.observe(504, 31);
    const text = metrics.render();
    assert.match(text, /^nimbus_runtime_requests_total\{code="200"\} 1$/m);
    assert.match(text, /^nimbus_runtime_requests_total\{code="504"\} 1$/m);
    assert.match(text, /^# TYPE nimbus_runtime_request_duration_seconds histogram$/m);
    assert.match(text, /^nimbus_runtime_request_duration_seconds_bucket\{le="0.001"\} 0$/m);
    assert.match(text, /^nimbus_runtime_request_duration_seconds_bucket\{le="0.005"\} 1$/m);
    assert.match(text, /^nimbus_runtime_request_duration_seconds_bucket\{le="30"\} 1$/m);
    assert.match(text, /^nimbus_runtime_request_duration_seconds_bucket\{le="\+Inf"\} 2$/m);
    assert.match(text, /^nimbus_runtime_inflight_requests 2$/m);
    assert.match(text, /^nimbus_runtime_queued_requests 1$/m);
    assert.match(text, /^nimbus_runtime_handler_loaded 1$/m);
    const start = /^process_start_time_seconds (\S+)$/m.exec(text);
    assert.ok(start?.[1] !== undefined);
    const seconds = Number(start[1]);
    assert.ok(seconds > 1.6e9 && seconds <= Date.now() / 1000, `plausible start time ${seconds}`);
  });
});
