import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type FunctionResource, createLogger } from '@nimbus/api';
import { send } from '@nimbus/testkit';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import type { FunctionDirectory } from '../src/ports.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';

const ADMIN = 'admin-key-0123456789';
const INVOKER = 'invoke-key-0123456789';

const API = {
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: 'api', namespace: 'home' },
  spec: { runtime: 'node20', scale: { min: 0, max: 2, target: 10, scaleToZeroAfter: '60s' } },
} as unknown as FunctionResource;

/**
 * The dashboard's routes over HTTP: its static files for anyone, with the headers that keep an
 * injected script from running and the page out of frames; its JSON for admins only; and the
 * settings behind it checked at start-up.
 */
describe('the dashboard: /ui and its JSON under /system', () => {
  let gateway: Gateway;
  let base: string;

  before(async () => {
    const directory: FunctionDirectory = {
      list: () => [API],
      get: (namespace, name) => (namespace === 'home' && name === 'api' ? API : undefined),
    };
    const routes = new RouteTable();
    routes.upsert({ name: 'api', namespace: 'home', timeoutMs: 1000, concurrency: 10, auth: 'none' });
    routes.setEndpoints('home', 'api', [], 'Error: <img src=x onerror=alert(1)> at load');
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_API_KEYS: `admin:${ADMIN},invoke:${INVOKER}`,
      NIMBUS_DEFAULT_NAMESPACE: 'home',
      NIMBUS_TRACING_UI_URL: 'https://jaeger.example/trace/{traceId}',
    });
    gateway = createGatewayContainer(config, {
      directory,
      routes,
      logger: createLogger({}, 'error', () => {}),
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });

  after(() => gateway.close());

  for (const [path, type] of [
    ['/ui', /^text\/html/],
    ['/ui/', /^text\/html/],
    ['/ui/app.js', /^text\/javascript/],
    ['/ui/style.css', /^text\/css/],
    ['/ui/vendor/uPlot.esm.js', /^text\/javascript/],
    ['/ui/vendor/uPlot.min.css', /^text\/css/],
  ] as const) {
    it(`serves ${path} without a key, under a CSP with no inline script, style or eval, and never in a frame`, async () => {
      const reply = await send(base, path);
      assert.equal(reply.status, 200);
      assert.match(String(reply.headers['content-type']), type);
      const csp = String(reply.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /style-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
      assert.equal(reply.headers['x-frame-options'], 'DENY');
      assert.equal(reply.headers['x-content-type-options'], 'nosniff');
      assert.equal(reply.headers['referrer-policy'], 'no-referrer');
    });
  }

  it('serves no file outside its list, however the path is spelled, and only to GET and HEAD', async () => {
    for (const path of [
      '/ui/../package.json',
      '/ui/%2e%2e/package.json',
      '/ui/vendor/../../src/config.ts',
      '/ui/vendor/uPlot.cjs.js',
      '/ui/..%2f..%2fpackage.json',
      '/ui/app.js/',
      '/uix',
    ]) {
      const reply = await send(base, path);
      assert.equal(reply.status, 404, `${path}: ${reply.text}`);
      assert.match(reply.text, /"code":"RouteNotFound"/);
    }
    const post = await send(base, '/ui/', { method: 'POST', headers: { 'content-length': '0' } });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const head = await send(base, '/ui/app.js', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  const json = ['/system/stats', '/system/functions/api/history'];
  const callers: [string, Record<string, string>, number][] = [
    ['no key', {}, 401],
    ['a wrong key', { authorization: 'Bearer wrong-key-0123456789' }, 401],
    ['an invoke key', { authorization: `Bearer ${INVOKER}` }, 403],
  ];
  for (const [who, headers, status] of callers) {
    it(`answers ${who} ${status} on the dashboard's JSON, with none of it`, async () => {
      for (const path of json) {
        const reply = await send(base, path, { headers });
        assert.equal(reply.status, status, `${path}: ${reply.text}`);
        assert.doesNotMatch(reply.text, /onerror|jaeger|intervalMs/);
      }
    });
  }

  const admin = { authorization: `Bearer ${ADMIN}` };

  it('gives an admin every function’s live stats, its readiness reason as data, and the tracing link template', async () => {
    const reply = await send(base, '/system/stats', { headers: admin });
    assert.equal(reply.status, 200);
    const stats = reply.json<{
      tracingUiUrl: string;
      intervalMs: number;
      functions: Record<string, unknown>[];
    }>();
    assert.equal(stats.tracingUiUrl, 'https://jaeger.example/trace/{traceId}');
    assert.equal(stats.intervalMs, 10_000);
    assert.deepEqual(stats.functions, [
      {
        namespace: 'home',
        name: 'api',
        replicas: 0,
        inflight: 0,
        held: 0,
        unavailableReason: 'Error: <img src=x onerror=alert(1)> at load',
        tracked: true,
        recentErrors: [],
        url: '/function/api',
      },
    ]);
  });

  it('gives an admin a function’s history, and names what is wrong with a bad request', async () => {
    const history = await send(base, '/system/functions/api/history', { headers: admin });
    assert.equal(history.status, 200, history.text);
    assert.deepEqual(history.json(), {
      namespace: 'home',
      name: 'api',
      intervalMs: 10_000,
      t: [],
      invocationsPerSecond: [],
      errorsPerSecond: [],
      latencyP50Ms: [],
      latencyP99Ms: [],
      concurrency: [],
      replicas: [],
      coldStarts: [],
      coldStartMs: [],
    });
    const cases: [string, number, RegExp][] = [
      ['/system/functions/nope/history', 404, /FunctionNotFound/],
      ['/system/functions/api/history?namespace=elsewhere', 404, /FunctionNotFound/],
      ['/system/functions/Not_A_Name/history', 400, /InvalidFunctionName/],
      ['/system/functions/api/history?namespace=..%2F', 400, /InvalidNamespace/],
      ['/system/functions/%3Cscript%3E/history', 400, /InvalidFunctionName/],
    ];
    for (const [path, status, code] of cases) {
      const reply = await send(base, path, { headers: admin });
      assert.equal(reply.status, status, `${path}: ${reply.text}`);
      assert.match(reply.text, code);
    }
  });

  it('refuses a tracing UI URL that is not http(s) or lacks {traceId}, and a sample interval out of range', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [
        { NIMBUS_TRACING_UI_URL: 'javascript:alert(1)//{traceId}' },
        /NIMBUS_TRACING_UI_URL: must be an http or https URL/,
      ],
      [
        { NIMBUS_TRACING_UI_URL: 'https://jaeger.example/trace/' },
        /NIMBUS_TRACING_UI_URL: must hold \{traceId\} once/,
      ],
      [{ NIMBUS_TRACING_UI_URL: 'https://j/{traceId}/{traceId}' }, /must hold \{traceId\} once/],
      [{ NIMBUS_TRACING_UI_URL: 'not a url {traceId}' }, /is not a URL/],
      [
        { NIMBUS_STATS_INTERVAL_MS: '999' },
        /NIMBUS_STATS_INTERVAL_MS: must be a whole number from 1000 to 60000/,
      ],
    ];
    for (const [env, message] of bad) assert.throws(() => loadGatewayConfig(env), message);
    const ok = loadGatewayConfig({ NIMBUS_STATS_INTERVAL_MS: '1000' }).ui;
    assert.deepEqual(ok, {
      stats: { intervalMs: 1000, points: 360, maxFunctions: 500 },
      tracingUiUrl: undefined,
    });
  });
});
