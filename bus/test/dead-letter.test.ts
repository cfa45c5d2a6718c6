import { strict as assert } from 'node:assert';
import {
  DEAD_LETTER_HEADERS,
  type DeadLetteredMessage,
  deadLetterFor,
  readDeadLetter,
} from '../src/index.js';

const message: DeadLetteredMessage = {
  id: 'evt-1',
  subject: 'orders.created',
  stream: 'NIMBUS_EVENTS',
  streamSeq: 42,
  data: new TextEncoder().encode('{"order":1}'),
  headers: { 'Nats-Msg-Id': 'evt-1', 'Content-Type': 'application/json', 'Nimbus-Last-Error': 'stale' },
  deliveryCount: 5,
};

describe('dead letters', () => {
  it('go to the function’s DLQ subject with the original data, headers and origin', () => {
    const letter = deadLetterFor(message, { namespace: 'shop', function: 'bill' }, 'timeout after 30s');
    assert.equal(letter.subject, 'nimbus.dlq.shop.bill');
    assert.equal(letter.data, message.data);
    assert.deepEqual(letter.options.headers, {
      'Content-Type': 'application/json',
      [DEAD_LETTER_HEADERS.namespace]: 'shop',
      [DEAD_LETTER_HEADERS.function]: 'bill',
      [DEAD_LETTER_HEADERS.error]: 'timeout after 30s',
      [DEAD_LETTER_HEADERS.subject]: 'orders.created',
      [DEAD_LETTER_HEADERS.stream]: 'NIMBUS_EVENTS',
      [DEAD_LETTER_HEADERS.seq]: '42',
      [DEAD_LETTER_HEADERS.id]: 'evt-1',
      [DEAD_LETTER_HEADERS.deliveryCount]: '5',
    });
  });

  it('leave out the credentials a publisher put on an event', () => {
    const letter = deadLetterFor(
      {
        ...message,
        headers: { ...message.headers, Authorization: 'Bearer s3cret', 'x-api-key': 'k3y', Cookie: 'sid=1' },
      },
      { namespace: 'shop', function: 'bill' },
      'boom',
    );
    const headers = letter.options.headers ?? {};
    assert.equal(headers['Content-Type'], 'application/json');
    assert.doesNotMatch(JSON.stringify(headers), /s3cret|k3y|sid=1/);
  });

  it('carry an id fixed by function and stream position, so a retried dead-lettering stores once', () => {
    const a = deadLetterFor(message, { namespace: 'shop', function: 'bill' }, 'x').options.msgId;
    assert.equal(a, deadLetterFor(message, { namespace: 'shop', function: 'bill' }, 'y').options.msgId);
    assert.notEqual(a, deadLetterFor(message, { namespace: 'shop', function: 'ship' }, 'x').options.msgId);
  });

  it('keep the last error on one line and bounded', () => {
    const letter = deadLetterFor(
      message,
      { namespace: 'shop', function: 'bill' },
      `line one\r\nline two${'x'.repeat(5_000)}`,
    );
    const error = letter.options.headers?.[DEAD_LETTER_HEADERS.error] ?? '';
    assert.ok(error.startsWith('line one line two'));
    assert.equal(error.length, 1_000);
  });

  it('read back from their headers', () => {
    const letter = deadLetterFor(message, { namespace: 'shop', function: 'bill' }, 'boom');
    assert.deepEqual(readDeadLetter(letter.options.headers ?? {}), {
      namespace: 'shop',
      function: 'bill',
      lastError: 'boom',
      originalSubject: 'orders.created',
      originalStream: 'NIMBUS_EVENTS',
      originalSeq: 42,
      originalId: 'evt-1',
      deliveryCount: 5,
      headers: { 'Content-Type': 'application/json' },
    });
  });

  it('are told apart from other messages', () => {
    assert.equal(readDeadLetter({ 'Content-Type': 'text/plain' }), undefined);
    const letter = deadLetterFor(message, { namespace: 'shop', function: 'bill' }, 'boom');
    assert.equal(readDeadLetter({ ...letter.options.headers, [DEAD_LETTER_HEADERS.seq]: 'x' }), undefined);
  });
});
