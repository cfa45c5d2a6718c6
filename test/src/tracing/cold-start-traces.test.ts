import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { eventually, send } from '@nimbus/testkit';
import { ScalingCluster } from '../harness/scaling-cluster.js';
import { saveTracePicture } from '../harness/trace-picture.js';
import { type StoredSpan, TracingBackend } from '../harness/tracing-backend.js';

const CALLER_SPAN = 'b7ad6b7169203331';
/** Where the picture of the stored trace goes (gitignored); docs/images has a copy for the README. */
const PICTURE = fileURLToPath(new URL('../../../artifacts/traces/cold-start-pool.png', import.meta.url));
const SERVER = 2;
const CLIENT = 3;

/**
 * One call's whole trace, as Jaeger stores it, on the API-server harness: the gateway, the
 * controller and the function's pod (the pod runner's real runtime process) each in its part. A
 * request at zero is held while the gateway wakes the function; the controller's wake writes the
 * scale and takes a warm-pool pod over; the request goes to the pod, whose handler span comes
 * back with the response.
 */
describe('a cold start’s trace across gateway, controller and pod (Jaeger, API server harness)', function () {
  this.timeout(240_000);
  let backend: TracingBackend;
  let cluster: ScalingCluster;

  before(async function () {
    this.timeout(180_000);
    backend = await TracingBackend.start();
    const tracing = { NIMBUS_TRACING_ENDPOINT: backend.otlpTracesUrl };
    cluster = await ScalingCluster.start(
      { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', NIMBUS_WARM_POOL_SIZE: '1', ...tracing },
      'traces',
      { gatewayEnv: tracing },
    );
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
    await backend?.stop();
  });

  const stored = (traceId: string, names: readonly string[]): Promise<StoredSpan[]> =>
    eventually(
      async () => {
        const spans = await backend.trace(traceId);
        return names.every((name) => spans.some((s) => s.name === name)) ? spans : undefined;
      },
      30_000,
      `the spans ${names.join(', ')} of trace ${traceId} in Jaeger`,
    );

  it('a request at zero: hold → wake → the controller’s wake, scale and pool takeover; then forward → the pod’s handler', async () => {
    await cluster.createFunction('pooled', { scale: { min: 0, scaleToZeroAfter: '60s' } });
    await eventually(
      async () => ((await cluster.deployment('pooled'))?.spec?.replicas === 0 ? true : undefined),
      30_000,
      'pooled at zero',
    );
    await eventually(
      async () => ((await cluster.readyPoolPods()).length === 1 ? true : undefined),
      60_000,
      'one ready pool pod',
    );
    const traceId = '3af7651916cd43dd8448eb211c80319c';
    const key = `${cluster.namespace}/pooled`;
    const reply = await send(cluster.gatewayBase, `/function/pooled.${cluster.namespace}`, {
      headers: { traceparent: `00-${traceId}-${CALLER_SPAN}-01` },
    });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    assert.equal(reply.headers['x-nimbus-spans'], undefined);

    const spans = await stored(traceId, [
      `invoke ${key}`,
      'hold',
      'wake',
      `wake ${key}`,
      'scale',
      'pool takeover',
      'handler',
    ]);
    const one = (name: string, service: string) => {
      const found = spans.filter((s) => s.name === name && s.service === service);
      assert.equal(
        found.length,
        1,
        `one ${name} of ${service}: ${spans.map((s) => `${s.service}:${s.name}`).join(', ')}`,
      );
      return found[0] as StoredSpan;
    };
    const call = one(`invoke ${key}`, 'nimbus-gateway');
    const hold = one('hold', 'nimbus-gateway');
    const wake = one('wake', 'nimbus-gateway');
    const woken = one(`wake ${key}`, 'nimbus-controller');
    const scale = one('scale', 'nimbus-controller');
    const takeover = one('pool takeover', 'nimbus-controller');
    const handler = one('handler', 'nimbus-function');
    const forward = spans.find((s) => s.name === 'forward' && s.spanId === handler.parentSpanId);

    assert.equal(call.parentSpanId, CALLER_SPAN);
    assert.equal(call.attributes['nimbus.cold_start'], true);
    assert.equal(hold.parentSpanId, call.spanId);
    assert.equal(wake.parentSpanId, hold.spanId);
    assert.equal(wake.kind, CLIENT);
    assert.equal(wake.attributes['nimbus.wake.result'], 'raised');
    assert.equal(woken.parentSpanId, wake.spanId, 'the controller continues the gateway’s trace');
    assert.equal(woken.kind, SERVER);
    assert.equal(woken.attributes['nimbus.wake.outcome'], 'raised');
    assert.equal(scale.parentSpanId, woken.spanId);
    assert.equal(scale.attributes['nimbus.wake.outcome'], 'raised');
    assert.equal(takeover.parentSpanId, woken.spanId);
    assert.match(String(takeover.attributes['nimbus.pool.pod_address']), /:\d+$/);
    assert.ok(forward !== undefined, 'the handler hangs under a forward span');
    assert.equal(forward.parentSpanId, call.spanId);
    assert.equal(forward.attributes['http.response.status_code'], 200);
    assert.equal(handler.kind, SERVER);
    assert.equal(handler.attributes['nimbus.function'], key);
    assert.equal(handler.attributes['http.response.status_code'], 200);
    assert.equal(typeof handler.attributes['nimbus.invocation_id'], 'string');
    await saveTracePicture(spans, PICTURE, `A request at zero through a warm-pool pod (trace ${traceId})`);
  });

  it('a reconcile is a trace of its own, named after the Function', async () => {
    const key = `${cluster.namespace}/pooled`;
    const [reconcile] = await eventually(
      async () => {
        const traces = await backend.traces('nimbus-controller');
        const found = traces.flatMap((t) => t.spans).filter((s) => s.name === `reconcile ${key}`);
        return found.length > 0 ? found : undefined;
      },
      30_000,
      `a reconcile of ${key} in Jaeger`,
    );
    assert.equal(reconcile?.parentSpanId, undefined);
    assert.equal(reconcile?.attributes['nimbus.function'], key);
  });
});
