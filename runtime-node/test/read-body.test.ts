import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PayloadTooLargeError } from '../src/http/http-errors.js';
import { readBody } from '../src/http/read-body.js';
import { Cancellation } from '../src/invoke/cancellation.js';

/** Only the headers: a request that declares no body is never read as a stream. */
function withHeaders(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

describe('readBody', () => {
  for (const [name, headers] of [
    ['no Content-Length or Transfer-Encoding', {}],
    ['Content-Length: 0', { 'content-length': '0' }],
  ] as const) {
    it(`gives an empty body at once, not a promise, for ${name}`, () => {
      const body = readBody(withHeaders(headers), 10, new Cancellation());
      assert.ok(Buffer.isBuffer(body));
      assert.equal(body.length, 0);
    });
  }

  it('refuses a Content-Length over the limit before reading anything', () => {
    assert.throws(
      () => readBody(withHeaders({ 'content-length': '11' }), 10, new Cancellation()),
      PayloadTooLargeError,
    );
  });
});
