import assert from 'node:assert/strict';
import { type FunctionResource, createLogger } from '@nimbus/api';
import { ManualClock, eventually, settle } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { EarlyEndpoints } from '../src/cluster/early-endpoints.js';
import { NewPodProber, PROBE_EVERY_MS, httpReady } from '../src/cluster/new-pod-prober.js';
import type { EndpointAddress } from '../src/routing/route-table.js';
import { upstream } from './replicas.js';
import { routeAtZero } from './route-at-zero.js';

const quiet = createLogger({}, 'error', () => {});

/** A replica starting on loopback: answers 503 to its first `notReadyFor` probes, then 200. */
async function replica(notReadyFor: number) {
  const paths: string[] = [];
  const { server, port } = await upstream((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(paths.length > notReadyFor ? 200 : 503).end();
  });
  return {
    address: { id: `127.0.0.1:${port}`, host: '127.0.0.1', port } as EndpointAddress,
    paths,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function fnWith(spec: Record<string, unknown>): FunctionResource {
  return {
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team' },
    spec,
  } as unknown as FunctionResource;
}

/** The prober with a real route table, a manual clock for its ticks, and slices the test writes. */
function world(fn: FunctionResource, wakeTimeoutMs = 30_000) {
  const clock = new ManualClock(1_000_000);
  const { routes, route, released, hold } = routeAtZero(clock);
  let starting: EndpointAddress[] = [];
  const listeners: ((namespace: string, name: string) => void)[] = [];
  const registry = new Registry();
  const prober = new NewPodProber(
    routes,
    { startingOf: () => starting, onChange: (l) => listeners.push(l) },
    { get: () => fn },
    new EarlyEndpoints(routes, registry, quiet),
    clock,
    wakeTimeoutMs,
  );
  return {
    clock,
    routes,
    route,
    prober,
    registry,
    released,
    hold: () => hold(),
    slices: (addresses: EndpointAddress[]) => {
      starting = addresses;
      for (const l of listeners) l('team', 'hello');
    },
    /** Steps the prober's clock a tick at a time until `done` holds. */
    until: <T>(done: () => T | undefined, what: string) =>
      eventually(
        async () => {
          const value = done();
          if (value !== undefined) return value;
          clock.advance(PROBE_EVERY_MS);
          await settle();
          return undefined;
        },
        5000,
        what,
      ),
  };
}

describe('NewPodProber: a new pod is probed from the gateway and used the moment it answers ready', () => {
  it('probes /_/ready until the replica answers 200, then the held request goes to it, and probing stops', async () => {
    const pod = await replica(3);
    try {
      const w = world(fnWith({ runtime: 'node20' }));
      w.hold();
      w.slices([pod.address]);
      await w.until(() => (pod.paths.length >= 3 ? true : undefined), 'three probes answered 503');
      assert.deepEqual(w.released, [], 'not released while it answers 503');
      assert.equal(w.route.endpoints.length, 0);
      await w.until(() => (w.released.length > 0 ? true : undefined), 'the held request to go');
      assert.deepEqual(w.released, ['held']);
      assert.deepEqual(pod.paths, ['/_/ready', '/_/ready', '/_/ready', '/_/ready']);
      assert.deepEqual(
        w.route.endpoints.map((e) => e.id),
        [pod.address.id],
      );
      const early =
        (await w.registry.getSingleMetric('nimbus_gateway_early_endpoints_total')?.get())?.values ?? [];
      assert.deepEqual(
        early.map((v) => [v.labels.via, v.value]),
        [['probe', 1]],
      );
      w.clock.advance(PROBE_EVERY_MS);
      await settle();
      assert.equal(pod.paths.length, 4, 'no held request left: no more probes');
      // Only the provisional endpoint's TTL is left on the clock.
      assert.equal(w.clock.pending, 1);
    } finally {
      await pod.close();
    }
  });

  it('a request held before the slice lists any replica starts probing when one appears', async () => {
    const pod = await replica(0);
    try {
      const w = world(fnWith({ runtime: 'python3.11' }));
      w.hold();
      w.prober.wake(w.route);
      assert.equal(w.clock.pending, 0, 'nothing to probe yet: no loop left running');
      w.slices([pod.address]);
      await w.until(() => (w.released.length > 0 ? true : undefined), 'the held request to go');
      assert.deepEqual(pod.paths, ['/_/ready']);
    } finally {
      await pod.close();
    }
  });

  it('a container function is probed at its own readiness path, and not at all when it declares none (TCP)', async () => {
    const pod = await replica(0);
    try {
      const http = world(fnWith({ runtime: 'container', readiness: { httpGet: { path: '/healthz' } } }));
      http.hold();
      http.slices([pod.address]);
      await http.until(() => (http.released.length > 0 ? true : undefined), 'the held request to go');
      assert.deepEqual(pod.paths, ['/healthz']);

      const tcp = world(fnWith({ runtime: 'container' }));
      tcp.hold();
      tcp.slices([pod.address]);
      tcp.prober.wake(tcp.route);
      assert.equal(tcp.clock.pending, 0, 'no probe loop');
      await settle();
      assert.deepEqual(pod.paths, ['/healthz'], 'no probe sent for the TCP-checked function');
      assert.equal(tcp.route.endpoints.length, 0);
    } finally {
      await pod.close();
    }
  });

  it('stops when the slice drops the replica, and a 200 that comes after the drop is not used', async () => {
    let answer: ((status: number) => void) | undefined;
    const paths: string[] = [];
    const { server: gated, port } = await upstream((req, res) => {
      paths.push(req.url ?? '');
      answer = (status) => res.writeHead(status).end();
    });
    try {
      const w = world(fnWith({ runtime: 'node20' }));
      w.hold();
      w.slices([{ id: `127.0.0.1:${port}`, host: '127.0.0.1', port }]);
      await w.until(() => (paths.length === 1 ? true : undefined), 'a probe in flight');
      w.slices([]);
      answer?.(200);
      await w.until(() => (w.clock.pending === 0 ? true : undefined), 'the probing to stop');
      await settle();
      assert.equal(paths.length, 1, 'one probe at a time per replica, none after the drop');
      assert.equal(w.route.endpoints.length, 0);
      assert.deepEqual(w.released, []);
    } finally {
      gated.closeAllConnections();
      await new Promise<void>((resolve) => gated.close(() => resolve()));
    }
  });

  it('stops at the wake timeout even with requests still held', async () => {
    const pod = await replica(1_000_000);
    try {
      const w = world(fnWith({ runtime: 'node20' }), 200);
      w.hold();
      w.slices([pod.address]);
      await w.until(() => (w.clock.pending === 0 ? true : undefined), 'the probing to stop');
      assert.ok(pod.paths.length >= 1 && pod.paths.length <= 11, String(pod.paths.length));
      assert.equal(w.route.held.size, 1);
    } finally {
      await pod.close();
    }
  });

  it('httpReady: 200-399 is ready; 503, a refused connection, and no answer within the timeout are not', async () => {
    const { server: silent, port: silentPort } = await upstream(() => {});
    const ready = await replica(0);
    const notReady = await replica(1_000_000);
    try {
      assert.equal(await httpReady('127.0.0.1', ready.address.port, '/_/ready', 1000), true);
      assert.equal(await httpReady('127.0.0.1', notReady.address.port, '/_/ready', 1000), false);
      assert.equal(await httpReady('127.0.0.1', 1, '/_/ready', 1000), false);
      const started = Date.now();
      assert.equal(await httpReady('127.0.0.1', silentPort, '/_/ready', 50), false);
      assert.ok(Date.now() - started < 1000, 'gave up at its timeout');
    } finally {
      silent.closeAllConnections();
      silent.close();
      await ready.close();
      await notReady.close();
    }
  });
});
