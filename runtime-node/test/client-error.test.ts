import assert from 'node:assert/strict';
import { clientErrorResponse } from '../src/http/client-error.js';

describe('clientErrorResponse', () => {
  const cases: [string | undefined, number][] = [
    ['HPE_INVALID_METHOD', 400],
    [undefined, 400],
    ['HPE_HEADER_OVERFLOW', 431],
    ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 413],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408],
  ];
  for (const [code, status] of cases) {
    it(`answers ${code ?? 'an unknown parse error'} with ${status} JSON`, () => {
      const raw = clientErrorResponse(code) ?? '';
      assert.match(raw, new RegExp(`^HTTP/1\\.1 ${status} `));
      assert.match(raw, /\r\nContent-Type: application\/json\r\n/);
      assert.match(raw, /\r\nConnection: close\r\n/);
      const [head, body = ''] = raw.split('\r\n\r\n');
      assert.match(head ?? '', new RegExp(`Content-Length: ${Buffer.byteLength(body)}`));
      assert.ok(typeof (JSON.parse(body) as { error?: unknown }).error === 'string');
    });
  }

  it('writes nothing to a peer that reset the connection', () => {
    assert.equal(clientErrorResponse('ECONNRESET'), undefined);
  });
});
