import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { isLiteralInternalPath, reachesInternalRoute } from '@nimbus/api/internal-path';
import { pythonRuntimeEntryPath } from '@nimbus/runtime-python';
import { parseQuery } from '../src/invoke/event.js';
import { isJsonType, mediaType } from '../src/invoke/request-body.js';

/** Runs `expression` (over `items`, bound as `item`) in runtime-python's modules; one result per item. */
function inPython(imports: string, expression: string, items: readonly string[]): unknown[] {
  const script = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(path.dirname(pythonRuntimeEntryPath()))})`,
    imports,
    `print(json.dumps([${expression} for item in json.load(sys.stdin)]))`,
  ].join('\n');
  return JSON.parse(
    execFileSync('python3', ['-c', script], { input: JSON.stringify(items) }).toString('utf8'),
  );
}

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
