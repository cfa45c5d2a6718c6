import assert from 'node:assert/strict';
import { InvalidResultError } from '../src/http/http-errors.js';
import { mapHandlerResult } from '../src/invoke/response-mapping.js';

const TEXT = 'text/plain; charset=utf-8';
const BYTES = 'application/octet-stream';
const JSON_TYPE = 'application/json';

interface Case {
  readonly name: string;
  readonly value: unknown;
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: string | undefined;
}

const cases: Case[] = [
  { name: 'a string', value: 'hi', status: 200, headers: { 'content-type': TEXT }, body: 'hi' },
  { name: 'an empty string', value: '', status: 200, headers: { 'content-type': TEXT }, body: '' },
  { name: 'a Buffer', value: Buffer.from('ab'), status: 200, headers: { 'content-type': BYTES }, body: 'ab' },
  {
    name: 'a Uint8Array',
    value: new Uint8Array([104, 105]),
    status: 200,
    headers: { 'content-type': BYTES },
    body: 'hi',
  },
  { name: 'undefined', value: undefined, status: 204, headers: {}, body: undefined },
  { name: 'null', value: null, status: 204, headers: {}, body: undefined },
  {
    name: 'an object',
    value: { a: 1 },
    status: 200,
    headers: { 'content-type': JSON_TYPE },
    body: '{"a":1}',
  },
  { name: 'an array', value: [1, 'x'], status: 200, headers: { 'content-type': JSON_TYPE }, body: '[1,"x"]' },
  { name: 'a number', value: 42, status: 200, headers: { 'content-type': JSON_TYPE }, body: '42' },
  { name: 'zero', value: 0, status: 200, headers: { 'content-type': JSON_TYPE }, body: '0' },
  { name: 'a boolean', value: false, status: 200, headers: { 'content-type': JSON_TYPE }, body: 'false' },
  {
    name: 'an object whose statusCode is not a number (plain JSON)',
    value: { statusCode: '201' },
    status: 200,
    headers: { 'content-type': JSON_TYPE },
    body: '{"statusCode":"201"}',
  },
  {
    name: 'an explicit response with a string body',
    value: { statusCode: 201, body: 'made' },
    status: 201,
    headers: { 'content-type': TEXT },
    body: 'made',
  },
  {
    name: 'an explicit response with an object body',
    value: { statusCode: 400, body: { why: 'no' } },
    status: 400,
    headers: { 'content-type': JSON_TYPE },
    body: '{"why":"no"}',
  },
  {
    name: 'an explicit response with a Buffer body',
    value: { statusCode: 200, body: Buffer.from('x') },
    status: 200,
    headers: { 'content-type': BYTES },
    body: 'x',
  },
  {
    name: 'an explicit response keeping its own content-type, any case',
    value: { statusCode: 200, headers: { 'Content-Type': 'text/html' }, body: '<p>' },
    status: 200,
    headers: { 'content-type': 'text/html' },
    body: '<p>',
  },
  {
    name: 'an explicit response without a body',
    value: { statusCode: 302, headers: { location: '/next' } },
    status: 302,
    headers: { location: '/next' },
    body: undefined,
  },
  {
    name: 'explicit headers with numbers, arrays and undefined',
    value: { statusCode: 200, headers: { 'x-n': 5, 'set-cookie': ['a=1', 'b=2'], 'x-skip': undefined } },
    status: 200,
    headers: { 'x-n': '5', 'set-cookie': ['a=1', 'b=2'] },
    body: undefined,
  },
];

describe('mapHandlerResult', () => {
  for (const c of cases) {
    it(`maps ${c.name}`, () => {
      const response = mapHandlerResult(c.value);
      assert.equal(response.statusCode, c.status);
      assert.deepEqual(response.headers, c.headers);
      assert.equal(response.body?.toString('utf8'), c.body);
    });
  }

  const invalid: [string, unknown, RegExp][] = [
    [
      'a statusCode above 599',
      { statusCode: 600 },
      /invalid statusCode 600; it must be an integer from 200 to 599/,
    ],
    ['a statusCode below 100', { statusCode: 99 }, /invalid statusCode 99/],
    ['an informational statusCode', { statusCode: 101 }, /invalid statusCode 101/],
    ['a fractional statusCode', { statusCode: 200.5 }, /invalid statusCode 200.5/],
    ['a NaN statusCode', { statusCode: Number.NaN }, /invalid statusCode NaN/],
    ['a header with a newline', { statusCode: 200, headers: { 'x-a': 'a\r\nb' } }, /invalid header "x-a"/],
    ['a header name with a space', { statusCode: 200, headers: { 'x a': '1' } }, /invalid header "x a"/],
    ['headers that are an array', { statusCode: 200, headers: ['x'] }, /headers that are not an object/],
    ['a function', () => 1, /cannot be sent as a response body/],
    ['a BigInt', { n: 1n }, /cannot be sent as JSON/],
  ];
  for (const [name, value, message] of invalid) {
    it(`refuses ${name} with a 500 error naming the problem`, () => {
      assert.throws(
        () => mapHandlerResult(value),
        (error: unknown) =>
          error instanceof InvalidResultError && error.statusCode === 500 && message.test(error.message),
      );
    });
  }

  it('does not let a __proto__ header reach the prototype', () => {
    const headers = JSON.parse('{"__proto__": "x", "ok": "1"}');
    const response = mapHandlerResult({ statusCode: 200, headers });
    assert.equal(Object.getPrototypeOf(response.headers), Object.prototype);
    assert.equal(response.headers.ok, '1');
  });
});
