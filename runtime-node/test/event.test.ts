import assert from 'node:assert/strict';
import { BadRequestError } from '../src/http/http-errors.js';
import { buildEvent, parseQuery } from '../src/invoke/event.js';
import { parseBody } from '../src/invoke/request-body.js';

const NO_BODY = Buffer.alloc(0);

describe('buildEvent', () => {
  it('keeps the method, the raw path and lower-cased headers', () => {
    const event = buildEvent({
      method: 'PUT',
      url: '/a/b%20c?x=1',
      headers: { 'x-thing': 'yes', 'set-cookie': ['a', 'b'] },
      rawBody: NO_BODY,
    });
    assert.equal(event.method, 'PUT');
    assert.equal(event.path, '/a/b%20c');
    assert.deepEqual(event.headers, { 'x-thing': 'yes', 'set-cookie': ['a', 'b'] });
    assert.equal(event.body, undefined);
    assert.equal(event.rawBody.length, 0);
    assert.equal('cloudEvent' in event, false);
  });

  it("reads the gateway's route parameters into params, and not into headers", () => {
    const event = buildEvent({
      method: 'GET',
      url: '/api/orders/a%2Fb',
      headers: { 'x-nimbus-params': '{"id":"a/b","__proto__":"p"}', 'x-thing': 'yes' },
      rawBody: NO_BODY,
    });
    assert.deepEqual(Object.entries(event.params), [
      ['id', 'a/b'],
      ['__proto__', 'p'],
    ]);
    assert.equal(
      Object.getPrototypeOf(event.params),
      Object.prototype,
      'a __proto__ parameter is only a parameter',
    );
    assert.deepEqual(event.headers, { 'x-thing': 'yes' });
  });

  it('gives no params without the header, or with one that is not a JSON object of strings', () => {
    for (const value of [undefined, 'not json', '[1]', '"s"', 'null', '{"n":1}']) {
      const headers = value === undefined ? {} : { 'x-nimbus-params': value };
      const event = buildEvent({ method: 'GET', url: '/', headers, rawBody: NO_BODY });
      assert.deepEqual(event.params, {}, String(value));
      assert.equal('x-nimbus-params' in event.headers, false);
    }
  });

  it('gives "/" for the root with or without a query', () => {
    assert.equal(buildEvent({ method: 'GET', url: '/', headers: {}, rawBody: NO_BODY }).path, '/');
    assert.equal(buildEvent({ method: 'GET', url: '/?a=1', headers: {}, rawBody: NO_BODY }).path, '/');
  });

  it('parses the body by content type and keeps the raw bytes', () => {
    const raw = Buffer.from('{"n":1}');
    const event = buildEvent({
      method: 'POST',
      url: '/',
      headers: { 'content-type': 'application/json' },
      rawBody: raw,
    });
    assert.deepEqual(event.body, { n: 1 });
    assert.equal(event.rawBody, raw);
  });

  it('refuses malformed JSON with a 400', () => {
    assert.throws(
      () =>
        buildEvent({
          method: 'POST',
          url: '/',
          headers: { 'content-type': 'application/json' },
          rawBody: Buffer.from('{'),
        }),
      (error: unknown) =>
        error instanceof BadRequestError && /^request body is not valid JSON: /.test(error.message),
    );
  });
});

describe('parseQuery', () => {
  const cases: [string, Record<string, string | string[]>][] = [
    ['', {}],
    ['a=1', { a: '1' }],
    ['a=1&a=2&b=3', { a: ['1', '2'], b: '3' }],
    ['a=1&a=2&a=3', { a: ['1', '2', '3'] }],
    ['flag', { flag: '' }],
    ['q=hello+world&e=%C3%A9', { q: 'hello world', e: 'é' }],
  ];
  for (const [search, expected] of cases) {
    it(`parses ${JSON.stringify(search)}`, () => {
      assert.deepEqual(parseQuery(search), expected);
    });
  }

  it('keeps __proto__ as an ordinary key', () => {
    const query = parseQuery('__proto__=x');
    assert.equal(Object.getPrototypeOf(query), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(query, '__proto__')?.value, 'x');
  });
});

describe('parseBody', () => {
  const json = Buffer.from('{"a":[1]}');
  const cases: [string, string | undefined, Buffer, unknown][] = [
    ['application/json', 'application/json', json, { a: [1] }],
    ['JSON with a charset, any case', 'Application/JSON; charset=utf-8', json, { a: [1] }],
    ['a +json type', 'application/vnd.api+json', json, { a: [1] }],
    ['text/plain', 'text/plain', Buffer.from('héllo'), 'héllo'],
    ['text/csv', 'text/csv; charset=utf-8', Buffer.from('a,b'), 'a,b'],
    ['a form', 'application/x-www-form-urlencoded', Buffer.from('a=1&b=2'), 'a=1&b=2'],
    ['no content type', undefined, Buffer.from([1, 2]), Buffer.from([1, 2])],
    ['an image', 'image/png', Buffer.from([137, 80]), Buffer.from([137, 80])],
    ['no body with a JSON type', 'application/json', Buffer.alloc(0), undefined],
    ['no body without a type', undefined, Buffer.alloc(0), undefined],
  ];
  for (const [name, type, raw, expected] of cases) {
    it(`gives the right body for ${name}`, () => {
      assert.deepEqual(parseBody(raw, type), expected);
    });
  }

  it('names the JSON error', () => {
    assert.throws(
      () => parseBody(Buffer.from('{"a":'), 'application/json'),
      /request body is not valid JSON: .+/,
    );
  });
});
