import assert from 'node:assert/strict';
import {
  BadRequestError,
  FunctionTimeoutError,
  HIDDEN_FAILURE,
  HIDDEN_LOAD_FAILURE,
  HandlerUnavailableError,
  InvalidResultError,
  PayloadTooLargeError,
  QueueFullError,
  errorResponse,
} from '../src/http/http-errors.js';

describe('errorResponse', () => {
  const cases: [string, unknown, number, Record<string, unknown>, Record<string, string>][] = [
    [
      'a bad request',
      new BadRequestError('bad', { attribute: 'id' }),
      400,
      { error: 'bad', attribute: 'id' },
      {},
    ],
    [
      'a body over the limit',
      new PayloadTooLargeError(10),
      413,
      { error: 'request body exceeds the limit of 10 bytes (NIMBUS_MAX_BODY_BYTES)', limit: 10 },
      {},
    ],
    [
      'a full queue',
      new QueueFullError(),
      429,
      { error: 'too many concurrent requests for this replica; retry later' },
      { 'retry-after': '1' },
    ],
    [
      'a handler that failed to load',
      new HandlerUnavailableError('boom'),
      503,
      { error: 'function is not available: boom', reason: 'boom' },
      {},
    ],
    ['a timeout', new FunctionTimeoutError(250), 504, { error: 'function timed out after 250ms' }, {}],
    ['a handler error', new Error('kaput'), 500, { error: 'kaput' }, {}],
    ['a thrown string', 'oops', 500, { error: 'handler threw a non-Error value: oops' }, {}],
    [
      'a thrown prototype-less object',
      Object.create(null),
      500,
      { error: 'handler threw a non-Error value: [object Object]' },
      {},
    ],
  ];
  for (const [name, error, status, body, headers] of cases) {
    it(`maps ${name} to ${status}`, () => {
      const response = errorResponse(error, 'id-1', false);
      assert.equal(response.statusCode, status);
      assert.deepEqual(response.body, { ...body, invocationId: 'id-1' });
      assert.deepEqual(response.headers, headers);
    });
  }

  it('adds the stack of a handler error only in debug mode', () => {
    const error = new Error('with stack');
    assert.equal('stack' in errorResponse(error, 'x', false).body, false);
    assert.match(String(errorResponse(error, 'x', true).body.stack), /with stack\n\s+at /);
  });

  describe('with detail none (NIMBUS_ERROR_DETAIL, the cluster default)', () => {
    const secret = 'postgres://user:secret@db';
    const hidden: [string, unknown, number, Record<string, unknown>][] = [
      ['a handler error', new Error(secret), 500, { error: HIDDEN_FAILURE, code: 'FunctionError' }],
      ['a thrown string', secret, 500, { error: HIDDEN_FAILURE, code: 'FunctionError' }],
      [
        'a result that cannot be sent',
        new InvalidResultError(`handler returned a body that cannot be sent as JSON: ${secret}`),
        500,
        { error: HIDDEN_FAILURE, code: 'FunctionError' },
      ],
      [
        'a handler that failed to load',
        new HandlerUnavailableError(`cannot connect to ${secret}`),
        503,
        { error: HIDDEN_LOAD_FAILURE, code: 'HandlerUnavailable' },
      ],
    ];
    for (const [name, error, status, body] of hidden) {
      it(`answers ${name} with ${status}, the invocation id and a generic message, even in debug mode`, () => {
        const response = errorResponse(error, 'id-2', true, 'none');
        assert.equal(response.statusCode, status);
        assert.deepEqual(response.body, { ...body, invocationId: 'id-2' });
      });
    }
    it("keeps the runtime's own refusals as they are: they name only what the caller sent", () => {
      assert.deepEqual(errorResponse(new PayloadTooLargeError(10), 'i', false, 'none').body, {
        error: 'request body exceeds the limit of 10 bytes (NIMBUS_MAX_BODY_BYTES)',
        limit: 10,
        invocationId: 'i',
      });
      assert.equal(errorResponse(new FunctionTimeoutError(5), 'i', false, 'none').statusCode, 504);
    });
  });
});
