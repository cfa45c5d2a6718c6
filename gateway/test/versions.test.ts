import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { type FunctionResource, type TrafficStatus, createLogger, systemClock } from '@nimbus/api';
import { ManualClock, eventually, send } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { reportOf } from '../src/cluster/concurrency-reporter.js';
import { EndpointSliceSource } from '../src/cluster/endpoint-slice-source.js';
import type { EndpointSlice } from '../src/cluster/endpoint-slice.js';
import { FunctionSource } from '../src/cluster/function-source.js';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import type { Invoker } from '../src/invoke/invoker.js';
import { RouteTable } from '../src/routing/route-table.js';
import { FunctionStats } from '../src/stats/function-stats.js';
import { TOKENS } from '../src/tokens.js';
import { FakeInformer } from './fake-informer.js';
import { type Handler, closedPort, echoRequest, upstream } from './replicas.js';

const quiet = createLogger({}, 'error', () => {});
const ADMIN = 'admin-key-0123456789';
const asAdmin = { headers: { authorization: `Bearer ${ADMIN}` } };

interface Seen {
  url: string;
  headers: Record<string, string>;
}

/** A Function as the controller leaves it: versioned, its traffic resolved in status. */
const versioned = (name: string, traffic: TrafficStatus[] | undefined): FunctionResource => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name, namespace: 'default', resourceVersion: String(Math.random()) },
  spec: {
    runtime: 'node20',
    handler: 'index.default',
    source: { inline: 'x' },
    timeout: '5s',
    concurrency: 10,
    scale: { min: 0, max: 2, target: 1, scaleToZeroAfter: '60s' },
    versions: { keep: 5 },
    http: { auth: 'none' },
  },
  ...(traffic === undefined ? {} : { status: { traffic } }),
});

/** The slice of a version's Service `fn-vN`, labels copied from the Service as Kubernetes does. */
const versionSlice = (fn: string, version: string, port: number): EndpointSlice => ({
  metadata: {
    name: `${fn}-${version}-abcde`,
    namespace: 'default',
    labels: {
      'kubernetes.io/service-name': `${fn}-${version}`,
      'nimbus.dev/function': fn,
      'nimbus.dev/version': version,
      'app.kubernetes.io/managed-by': 'nimbus',
    },
  },
  addressType: 'IPv4',
  ports: [{ name: 'http', port }],
  endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
});

/** An unversioned Function's slice: its Service is named like it. */
const plainSlice = (fn: string, port: number): EndpointSlice => ({
  metadata: { name: `${fn}-xyz`, namespace: 'default', labels: { 'kubernetes.io/service-name': fn } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port }],
  endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
});

/** A replica that counts what it serves and answers with its version and what it saw. */
const replica = (version: string, seen: Map<string, number>): Handler => {
  return (req, res) => {
    seen.set(version, (seen.get(version) ?? 0) + 1);
    echoRequest(req, res);
  };
};

describe("a versioned Function's calls shared between its versions (real sockets)", function () {
  this.timeout(30_000);
  let routes: RouteTable;
  let gateway: Gateway;
  let invoker: Invoker;
  let base: string;
  let functions: FakeInformer<FunctionResource>;
  let slices: FakeInformer<EndpointSlice>;
  const servers: Server[] = [];
  let served: Map<string, number>;

  const serve = async (handler: Handler) => {
    const u = await upstream(handler);
    servers.push(u.server);
    return u.port;
  };

  /** Versions v1, v2 and v3 of `fn`, each with a replica; status.traffic as given. */
  const threeVersions = async (traffic: TrafficStatus[]) => {
    for (const v of ['v1', 'v2', 'v3']) slices.put(versionSlice('fn', v, await serve(replica(v, served))));
    functions.put(versioned('fn', traffic));
  };

  beforeEach(async () => {
    routes = new RouteTable();
    served = new Map();
    functions = new FakeInformer();
    slices = new FakeInformer();
    new FunctionSource(functions, new EndpointSliceSource(slices), routes, quiet);
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_WAKE_TIMEOUT_MS: '400',
      NIMBUS_API_KEYS: `admin:${ADMIN}`,
    });
    const container = createGatewayContainer(config, { routes, logger: quiet, waker: { wake: () => {} } });
    container.register(TOKENS.Clock, { useValue: new ManualClock() });
    container.register(TOKENS.FunctionStats, {
      useValue: new FunctionStats(config.ui.stats, new Registry(), routes, systemClock),
    });
    gateway = container.resolve<Gateway>(TOKENS.Gateway);
    invoker = container.resolve<Invoker>(TOKENS.Invoker);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });

  afterEach(async () => {
    await gateway.close();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('shares 2,000 sync calls 90/10 within a few points, and says which version served', async () => {
    await threeVersions([
      { version: 'v1', percent: 90 },
      { version: 'v2', percent: 10 },
    ]);
    const byHeader = new Map<string, number>();
    for (let batch = 0; batch < 40; batch++) {
      const replies = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const reply = await fetch(`${base}/function/fn/x`);
          await reply.arrayBuffer();
          assert.equal(reply.status, 200);
          return reply.headers.get('x-nimbus-version') ?? '';
        }),
      );
      for (const v of replies) byHeader.set(v, (byHeader.get(v) ?? 0) + 1);
    }
    const v2 = served.get('v2') ?? 0;
    assert.equal((served.get('v1') ?? 0) + v2, 2000);
    // 10 % of 2,000 is 200, its standard deviation about 13: 140-260 fails by chance about once in 10^5.
    assert.ok(v2 >= 140 && v2 <= 260, `v2 served ${v2} of 2000`);
    assert.equal(served.get('v3'), undefined, 'a version status.traffic does not name takes nothing');
    assert.equal(byHeader.get('v2'), v2, 'the response header names the version that served');
    assert.equal(byHeader.get('v1'), served.get('v1'));
  });

  it('keeps every attempt of one call id on one version, and spreads ids by share', async () => {
    await threeVersions([
      { version: 'v1', percent: 50 },
      { version: 'v2', percent: 50 },
    ]);
    const route = routes.get('default', 'fn');
    assert.ok(route !== undefined);
    const versionOf = async (id: string) => {
      const outcome = await invoker.call(route, {
        method: 'POST',
        path: '/',
        headers: { 'x-call-id': id },
        body: new Uint8Array(),
      });
      assert.equal(outcome.kind, 'response');
      return outcome.kind === 'response' ? outcome.headers['x-nimbus-version'] : undefined;
    };
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 40; i++) {
      const id = `call-${i}`;
      const first = await versionOf(id);
      for (let attempt = 0; attempt < 4; attempt++) assert.equal(await versionOf(id), first, id);
      seen.add(first);
    }
    assert.deepEqual([...seen].sort(), ['v1', 'v2'], 'forty ids reach both halves');
  });

  it('pins by header (name or tag) and by /function/fn@tag, only to versions the traffic names', async () => {
    await threeVersions([
      { version: 'v2', percent: 100 },
      { version: 'v3', percent: 0, tag: 'canary' },
    ]);
    const byName = await send(base, '/function/fn/a?b=1', { headers: { 'x-nimbus-version': 'v3' } });
    assert.equal(byName.status, 200, byName.text);
    assert.equal(byName.headers['x-nimbus-version'], 'v3');
    const byTag = await send(base, '/function/fn/a', { headers: { 'X-Nimbus-Version': 'canary' } });
    assert.equal(byTag.headers['x-nimbus-version'], 'v3');
    const byPath = await send(base, '/function/fn@canary/a?b=1');
    assert.equal(byPath.status, 200, byPath.text);
    assert.equal(byPath.headers['x-nimbus-version'], 'v3');
    assert.equal(byPath.json<Seen>().url, '/a?b=1');
    const withNamespace = await send(base, '/function/fn.default@canary');
    assert.equal(withNamespace.headers['x-nimbus-version'], 'v3');
    // The pin is the gateway's: no handler sees it.
    assert.equal(byName.json<Seen>().headers['x-nimbus-version'], undefined);
    assert.equal(byTag.json<Seen>().headers['x-nimbus-version'], undefined);
    assert.equal(served.get('v3'), 4);
  });

  it('answers 404 for a pin or tag the traffic does not reach, and the old replica sees nothing', async () => {
    // v1 is kept (its Deployment and Service still up) but status.traffic no longer names it.
    await threeVersions([
      { version: 'v2', percent: 100 },
      { version: 'v3', percent: 0, tag: 'canary' },
    ]);
    const attempts: [string, Record<string, string>][] = [
      ['/function/fn', { 'x-nimbus-version': 'v1' }],
      ['/function/fn', { 'x-nimbus-version': 'V1' }],
      ['/function/fn', { 'x-nimbus-version': 'v9' }],
      ['/function/fn', { 'x-nimbus-version': 'stable' }],
      ['/function/fn', { 'x-nimbus-version': '../v1' }],
      ['/function/fn@nope/x', {}],
      ['/function/fn@v1/x', {}],
      ['/function/fn@v1', { 'x-nimbus-version': 'v2' }],
    ];
    for (const [path, headers] of attempts) {
      const reply = await send(base, path, { headers });
      assert.equal(reply.status, 404, `${path} ${JSON.stringify(headers)}: ${reply.text}`);
      const problem = reply.json<{ code: string; error: string }>();
      assert.equal(problem.code, 'VersionNotFound');
      assert.match(problem.error, /^function fn has no version or tag "/);
    }
    // Both headers: Node joins them, and a joined value is no pin.
    const twice = await send(base, '/function/fn', { headers: { 'x-nimbus-version': ['v2', 'v1'] } });
    assert.equal(twice.status, 404);
    for (const bad of ['/function/fn@', '/function/fn@UPPER', '/function/fn@a@b', '/function/@canary']) {
      const reply = await send(base, bad);
      assert.equal(reply.status, 400, `${bad}: ${reply.text}`);
    }
    // A buffered call (a queued one's attempt) carrying a pin is held to the same rule.
    const route = routes.get('default', 'fn');
    assert.ok(route !== undefined);
    const outcome = await invoker.call(route, {
      method: 'POST',
      path: '/',
      headers: { 'x-call-id': 'c1', 'x-nimbus-version': 'v1' },
      body: new Uint8Array(),
    });
    assert.equal(outcome.kind === 'failed' ? outcome.problem.status : 0, 404);
    assert.equal(served.get('v1'), undefined, 'the old version never took a request');
    assert.equal(routes.get('default', 'fn@v1'), undefined, 'nor has it a route');
  });

  it('drops the routes of versions traffic no longer names, and follows a rollback at once', async () => {
    await threeVersions([
      { version: 'v1', percent: 0, tag: 'old' },
      { version: 'v2', percent: 100 },
    ]);
    assert.equal((await send(base, '/function/fn')).headers['x-nimbus-version'], 'v2');
    functions.put(versioned('fn', [{ version: 'v1', percent: 100 }]));
    assert.equal(routes.get('default', 'fn@v2'), undefined);
    const reply = await send(base, '/function/fn');
    assert.equal(reply.headers['x-nimbus-version'], 'v1');
    assert.equal((await send(base, '/function/fn', { headers: { 'x-nimbus-version': 'v2' } })).status, 404);
    functions.remove(versioned('fn', undefined));
    assert.equal(routes.get('default', 'fn@v1'), undefined);
    assert.equal((await send(base, '/function/fn')).status, 404);
  });

  it('answers 503 with Retry-After while a versioned Function has no traffic yet', async () => {
    slices.put(versionSlice('fn', 'v1', await serve(replica('v1', served))));
    functions.put(versioned('fn', undefined));
    const reply = await send(base, '/function/fn');
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['retry-after'], '1');
    assert.equal(
      reply.json<{ code: string; error: string }>().error,
      'no version of function fn is ready yet',
    );
    assert.equal(served.size, 0);
    // The controller writes traffic: the same version's slice, already known, serves.
    functions.put(versioned('fn', [{ version: 'v1', percent: 100 }]));
    assert.equal((await send(base, '/function/fn')).status, 200);
  });

  it('holds a call for a version at zero and wakes that version, by its key', async () => {
    functions.put(versioned('fn', [{ version: 'v1', percent: 100 }]));
    const pending = send(base, '/function/fn/held');
    const route = routes.get('default', 'fn@v1');
    await eventually(() => (route?.held.size === 1 ? true : undefined), 5000, 'the call to be held');
    slices.put(versionSlice('fn', 'v1', await serve(replica('v1', served))));
    const reply = await pending;
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    assert.equal(reply.headers['x-nimbus-version'], 'v1');
  });

  it("reports each version's outcomes: a 5xx and a refused connection are errors, a 4xx is not", async () => {
    let answer = 200;
    slices.put(
      versionSlice(
        'fn',
        'v1',
        await serve((_req, res) => {
          res.statusCode = answer;
          res.end();
        }),
      ),
    );
    slices.put(versionSlice('fn', 'v2', await closedPort()));
    functions.put(
      versioned('fn', [
        { version: 'v1', percent: 100 },
        { version: 'v2', percent: 0, tag: 'broken' },
      ]),
    );
    for (const code of [200, 200, 404, 500, 503]) {
      answer = code;
      assert.equal((await send(base, '/function/fn')).status, code);
    }
    const refused = await send(base, '/function/fn@broken');
    assert.ok(refused.status >= 500, refused.text);
    const report = reportOf('gw-1', routes);
    const v1 = report.outcomes?.['default/fn@v1'];
    const v2 = report.outcomes?.['default/fn@v2'];
    assert.equal(v1?.requests, 5);
    assert.equal(v1?.errors, 2);
    assert.equal(
      Object.values(v1?.latency ?? {}).reduce((a, b) => a + b, 0),
      5,
      'each request has its latency',
    );
    assert.deepEqual([v2?.requests, v2?.errors], [1, 1]);
    assert.ok(report.functions['default/fn@v1'] !== undefined, 'each version reports its load');
    assert.equal(report.outcomes?.['default/fn'], undefined, "the Function's own route has none");
    // Each report carries its interval only.
    assert.equal(reportOf('gw-1', routes).outcomes, undefined);
  });

  it("names the version that served, whatever the replica's own answer claims", async () => {
    slices.put(
      versionSlice(
        'fn',
        'v1',
        await serve((_req, res) => {
          res.setHeader('x-nimbus-version', 'v7');
          res.end('ok');
        }),
      ),
    );
    functions.put(versioned('fn', [{ version: 'v1', percent: 100 }]));
    const reply = await send(base, '/function/fn');
    assert.equal(reply.headers['x-nimbus-version'], 'v1');
    const route = routes.get('default', 'fn');
    assert.ok(route !== undefined);
    const outcome = await invoker.call(route, {
      method: 'GET',
      path: '/',
      headers: { 'x-call-id': 'x' },
      body: new Uint8Array(),
    });
    assert.equal(outcome.kind === 'response' ? outcome.headers['x-nimbus-version'] : undefined, 'v1');
  });

  it('labels the request metrics with the version', async () => {
    await threeVersions([{ version: 'v2', percent: 100 }]);
    assert.equal((await send(base, '/function/fn')).status, 200);
    const metrics = (await send(base, '/metrics', asAdmin)).text;
    assert.match(
      metrics,
      /nimbus_gateway_requests_total\{function="default\/fn",version="v2",code="200"\} 1/,
    );
  });

  it('serves an unversioned Function exactly as before, whatever pin a caller sends', async () => {
    slices.put(plainSlice('plain', await serve(echoRequest)));
    const { versions: _, ...spec } = versioned('plain', undefined).spec;
    // status.traffic without spec.versions means nothing (a Function that turned versions off).
    functions.put({ ...versioned('plain', [{ version: 'v1', percent: 100 }]), spec });
    const reply = await send(base, '/function/plain/x', { headers: { 'x-nimbus-version': 'v1' } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['x-nimbus-version'], undefined);
    assert.equal(reply.json<Seen>().headers['x-nimbus-version'], undefined, 'the header never reaches it');
    assert.equal(
      routes.get('default', 'plain@v1'),
      undefined,
      'status.traffic means nothing without versions',
    );
    assert.equal((await send(base, '/function/plain@canary')).status, 404);
    assert.equal(reportOf('gw-1', routes).outcomes, undefined);
    const metrics = (await send(base, '/metrics', asAdmin)).text;
    assert.match(metrics, /^nimbus_gateway_requests_total\{function="default\/plain",code="200"\} 1$/m);
  });
});
