import assert from 'node:assert/strict';
import { isLiteralInternalPath, reachesInternalRoute } from '@nimbus/api/internal-path';
import { ConfigError, loadConfig } from '../src/config.js';
import { buildEvent, parseQuery } from '../src/invoke/event.js';
import { isJsonType, mediaType } from '../src/invoke/request-body.js';
import { inPython } from './support/in-python.js';

/** A fixed stream of hostile paths: pieces a proxy, a framework or a filesystem may read differently. */
function generatedPaths(count: number): string[] {
  const pieces = [
    '/',
    '/',
    '_',
    '%5F',
    '%5f',
    '%255F',
    '%2F',
    '%2e',
    '.',
    '..',
    ';x',
    '\\',
    'a',
    '\uff3f',
    '%EF%BC%BF',
    '?',
    '#',
    '%zz',
    'é',
    ' ',
  ];
  let seed = 7;
  const next = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return seed;
  };
  return Array.from({ length: count }, () => {
    let text = '/';
    const length = 1 + (next() % 6);
    for (let i = 0; i < length; i++) text += pieces[next() % pieces.length];
    return text;
  });
}

/**
 * runtime-python ports a few decisions runtime-node (and the gateway) make; these must not drift
 * apart, or the gateway and a Python replica would disagree about what reaches an internal route.
 */
describe('runtime-python agrees with runtime-node', function () {
  this.timeout(30_000);

  it('on which paths reach an internal route, and which are literal ones', () => {
    const paths = [
      ...['/_', '/_/', '/_/health', '/_/specialise?x=1', '/%5F/health', '/%255F/health', '/_%2Fmetrics'],
      ...['//_/health', '/./_/health', '/x/%2e%2e/_/health', '/../_/health', '/\\_/health', '/%5C_/health'],
      ...['/_;x=1/health', '/%EF%BC%BF/health', '/\uff3f/health', '/%zz/../_/health', '/', '/health'],
      ...['/_x/health', '/api/_/health', '/?path=/_/health', '/%5Fx', '/a/./b/../_c', '/%zz', '/#/_/health'],
      ...generatedPaths(400),
    ];
    const python = inPython(
      'from nimbus_runtime.http.internal_path import is_literal_internal_path, reaches_internal_route',
      '[reaches_internal_route(item), is_literal_internal_path(item)]',
      paths,
    );
    const node = paths.map((p) => [reachesInternalRoute(p), isLiteralInternalPath(p)]);
    const differences = paths.filter((_, i) => JSON.stringify(python[i]) !== JSON.stringify(node[i]));
    assert.deepEqual(differences, [], 'paths the two runtimes read differently');
  });

  it('on query strings', () => {
    const queries = [
      'a=1&a=2&b=',
      'x',
      '?x=1',
      'a+b=c+d',
      'k=%E2%9C%93&k=%zz&k=%C3',
      '&&a=1&&',
      '=v&a==b',
      'tag=a&tag=b&tag=c&one=1',
      'email=a%40b.c&p=%2B1',
    ];
    const python = inPython(
      'from nimbus_runtime.invoke.event import parse_query',
      'parse_query(item)',
      queries,
    );
    assert.deepEqual(
      python,
      queries.map((q) => ({ ...parseQuery(q) })),
    );
  });

  it("on the route parameters read from the gateway's header, and that the header is gone", () => {
    const values = [
      '{"id":"42"}',
      '{"a":"x/y","b":"caf\u00e9","__proto__":"p"}',
      '{"n":1,"s":"kept"}',
      '[]',
      'null',
      '"text"',
      'not json',
      '',
      '{}',
    ];
    const python = inPython(
      'from nimbus_runtime.invoke.event import build_event\nev = lambda v: build_event("GET", "/", {"x-nimbus-params": v, "x-a": "1"}, b"")',
      '[sorted(ev(item).params.items()), sorted(ev(item).headers)]',
      values,
    );
    const node = values.map((v) => {
      const event = buildEvent({
        method: 'GET',
        url: '/',
        headers: { 'x-nimbus-params': v, 'x-a': '1' },
        rawBody: Buffer.alloc(0),
      });
      return [
        Object.entries(event.params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        Object.keys(event.headers).sort(),
      ];
    });
    assert.deepEqual(python, node);
  });

  it('on which content types are JSON', () => {
    const types = [
      'application/json',
      'Application/JSON; charset=utf-8',
      'application/cloudevents+json',
      'application/vnd.api+json; x=1',
      'text/json',
      'application/json-seq',
      '+json',
      '',
    ];
    const python = inPython(
      'from nimbus_runtime.invoke.request_body import is_json_type, media_type',
      'is_json_type(media_type(item))',
      types,
    );
    assert.deepEqual(
      python,
      types.map((t) => isJsonType(mediaType(t))),
    );
  });
});

describe('runtime-python reads the process and state settings as runtime-node does', function () {
  this.timeout(30_000);

  /** What both runtimes make of an environment: the pool and state settings, or the refusal. */
  const pythonSettings = [
    'from nimbus_runtime.config import ConfigError, load_config',
    'def settings(env):',
    '    try:',
    '        config = load_config(env)',
    '    except ConfigError as error:',
    "        return {'key': error.key, 'message': str(error)}",
    '    state = config.state',
    "    shown = {'backend': state.backend}",
    "    if state.backend != 'none':",
    '        shown.update(timeoutMs=state.timeout_ms, maxValueBytes=state.max_value_bytes)',
    "    if state.backend == 'service':",
    '        shown.update(url=state.url, token=state.token, tokenFile=state.token_file)',
    "    return {'pool': config.pool, 'poolTokenFile': config.pool_token_file, 'state': shown}",
  ].join('\n');

  function nodeSettings(env: Record<string, string>): unknown {
    try {
      const config = loadConfig(env);
      // undefined as Python's None comes back: null.
      return JSON.parse(
        JSON.stringify(
          { pool: config.pool, poolTokenFile: config.poolTokenFile, state: config.state },
          (_, v) => (v === undefined ? null : v),
        ),
      );
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return { key: error.key, message: error.message };
    }
  }

  it('the same values and the same refusals, in the same words', () => {
    const url = 'http://nimbus-gateway-state.nimbus.svc:8081';
    const envs: Record<string, string>[] = [
      {},
      { NIMBUS_POOL: '1', NIMBUS_POOL_TOKEN_FILE: '/run/pool/token' },
      { NIMBUS_POOL: 'TRUE' },
      { NIMBUS_POOL: 'yes' },
      { NIMBUS_POOL: '1', NIMBUS_POOL_TOKEN: 'pool-token-0123456789' },
      { NIMBUS_STATE_BACKEND: 'none' },
      { NIMBUS_STATE_BACKEND: 'supervisor', NIMBUS_STATE_TIMEOUT_MS: '50' },
      { NIMBUS_STATE_URL: `${url}/`, NIMBUS_STATE_TOKEN_FILE: '/var/nimbus/state/token' },
      { NIMBUS_STATE_BACKEND: 'SERVICE', NIMBUS_STATE_URL: 'https://gw:8081', NIMBUS_STATE_TOKEN: 't' },
      { NIMBUS_STATE_URL: 'http://[::1]:8081', NIMBUS_STATE_TOKEN: 't', NIMBUS_STATE_MAX_VALUE_BYTES: '1' },
      { NIMBUS_STATE_BACKEND: 'etcd' },
      { NIMBUS_STATE_BACKEND: 'Redis' },
      { NIMBUS_STATE_BACKEND: 'service', NIMBUS_STATE_TOKEN: 't' },
      { NIMBUS_STATE_URL: 'redis://r:6379', NIMBUS_STATE_TOKEN: 't' },
      { NIMBUS_STATE_URL: 'HTTP://gw:8081', NIMBUS_STATE_TOKEN: 't' },
      { NIMBUS_STATE_URL: `${url}/v1`, NIMBUS_STATE_TOKEN: 't' },
      { NIMBUS_STATE_URL: 'http://user@gw:8081', NIMBUS_STATE_TOKEN: 't' },
      { NIMBUS_STATE_URL: url },
      { NIMBUS_STATE_URL: url, NIMBUS_STATE_TOKEN: 't', NIMBUS_STATE_TOKEN_FILE: '/t' },
      { NIMBUS_STATE_BACKEND: 'supervisor', NIMBUS_STATE_URL: url },
      { NIMBUS_STATE_BACKEND: 'none', NIMBUS_STATE_TOKEN_FILE: '/t' },
      { NIMBUS_STATE_URL: url, NIMBUS_STATE_TOKEN: 't', NIMBUS_STATE_TIMEOUT_MS: '9' },
      { NIMBUS_STATE_URL: url, NIMBUS_STATE_TOKEN: 't', NIMBUS_STATE_TIMEOUT_MS: '60001' },
      { NIMBUS_STATE_MAX_VALUE_BYTES: '0' },
      { NIMBUS_STATE_MAX_VALUE_BYTES: '16777217' },
      { NIMBUS_STATE_URL: ' ', NIMBUS_STATE_BACKEND: ' ' },
    ];
    const python = inPython(pythonSettings, 'settings(item)', envs);
    const node = envs.map(nodeSettings);
    assert.deepEqual(python, node);
    assert.ok(
      node.some((n) => (n as { key?: string }).key !== undefined),
      'some are refused',
    );
  });
});
