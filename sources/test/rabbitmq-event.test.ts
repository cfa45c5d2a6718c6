import { strict as assert } from 'node:assert';
import type { Message, MessageProperties } from 'amqplib';
import { SourceConfigError } from '../src/index.js';
import { attemptOf, messageEvent, messageId, parseBrokerUrl } from '../src/rabbitmq/index.js';

const SOURCE = 'amqp://mq:5672/%2F#jobs';

function message(
  body: string | Buffer,
  properties: Partial<MessageProperties> = {},
  fields: Partial<Message['fields']> = {},
): Message {
  return {
    content: Buffer.isBuffer(body) ? body : Buffer.from(body),
    fields: { deliveryTag: 1, redelivered: false, exchange: 'jobs-x', routingKey: 'job.new', ...fields },
    properties: {
      contentType: undefined,
      contentEncoding: undefined,
      headers: {},
      deliveryMode: 2,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: undefined,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
      ...properties,
    },
  };
}

describe('RabbitMQ messages as events', () => {
  it('carries the exchange, routing key and correlation id as extensions, the routing key as subject', () => {
    const event = messageEvent(message('{}', { correlationId: 'c-9', messageId: 'm-1' }), SOURCE, 5);
    assert.deepEqual(event.extensions, { exchange: 'jobs-x', routingkey: 'job.new', correlationid: 'c-9' });
    assert.equal(event.subject, 'job.new');
    assert.equal(event.time, 5, 'no timestamp: the receipt time');
    assert.equal(event.source, SOURCE);
    assert.equal(event.id, 'm-1');
  });

  it('carries a W3C traceparent and tracestate header as the distributed tracing extension', () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const event = messageEvent(
      message('{}', { headers: { traceparent: Buffer.from(traceparent), tracestate: 'shop=1' } }),
      SOURCE,
      5,
    );
    assert.equal(event.extensions?.traceparent, traceparent, 'a longstr or a byte array alike');
    assert.equal(event.extensions?.tracestate, 'shop=1');
    const hostile = messageEvent(
      message('{}', { headers: { traceparent: 'x\r\ny: 1', tracestate: 7 } }),
      SOURCE,
      5,
    );
    assert.equal(
      hostile.extensions?.traceparent,
      'x%0D%0Ay: 1',
      'safe as a header; the gateway drops it as malformed',
    );
    assert.equal(hostile.extensions?.tracestate, undefined, 'not text: left out');
  });

  it('keeps an id across redeliveries, which change the delivery tag, the flag and x-delivery-count', () => {
    const first = message('body', { headers: { tenant: 'a' }, timestamp: 1_700_000_000 });
    const again = message(
      'body',
      { headers: { tenant: 'a', 'x-delivery-count': 3 }, timestamp: 1_700_000_000 },
      { deliveryTag: 99, redelivered: true },
    );
    assert.equal(messageId(first), messageId(again));
    assert.notEqual(messageId(first), messageId(message('other body', { headers: { tenant: 'a' } })));
    assert.notEqual(messageId(first), messageId(message('body', { headers: { tenant: 'b' } })));
    assert.equal(attemptOf(first), 1);
    assert.equal(attemptOf(again), 4, 'x-delivery-count counts the deliveries before');
    assert.equal(attemptOf(message('x', {}, { redelivered: true })), 2);
    const forged = message('x', { headers: { 'x-delivery-count': 99 } });
    assert.equal(
      attemptOf(forged),
      1,
      "a publisher's own x-delivery-count does not count on a first delivery",
    );
  });

  it('hashes a message-id that cannot serve as an event id as it is (too long, not printable ASCII)', () => {
    const long = messageId(message('x', { messageId: 'a'.repeat(201) }));
    assert.match(long, /^amqp-[0-9a-f]{64}$/);
    assert.equal(long, messageId(message('y', { messageId: 'a'.repeat(201) })), 'the id alone decides');
    assert.match(messageId(message('x', { messageId: 'id with spaces\r\n' })), /^amqp-[0-9a-f]{64}$/);
  });

  it('makes whatever a hostile publisher sends safe to travel as HTTP headers', () => {
    const event = messageEvent(
      message(
        'not json',
        {
          contentType: 'text/plain\r\nx-injected: 1',
          correlationId: 'é\r\nset-cookie: a=b',
          timestamp: 1e30,
        },
        { routingKey: 'k\r\nx-evil: 1 %', exchange: 'ex' },
      ),
      SOURCE,
      42,
    );
    assert.equal(
      event.contentType,
      'application/octet-stream',
      'a content type that is no media type is ignored',
    );
    for (const value of [event.subject, ...Object.values(event.extensions ?? {})])
      assert.match(value ?? '', /^[\x20-\x7e]*$/);
    assert.equal(event.subject, 'k%0D%0Ax-evil: 1 %25');
    assert.equal(decodeURIComponent(event.extensions?.correlationid ?? ''), 'é\r\nset-cookie: a=b');
    assert.equal(event.time, 42, 'an impossible timestamp is ignored');
  });

  it('takes the declared content type, else JSON when the body parses, else bytes', () => {
    assert.equal(
      messageEvent(message('x', { contentType: 'text/csv; charset=utf-8' }), SOURCE, 0).contentType,
      'text/csv; charset=utf-8',
    );
    assert.equal(messageEvent(message('[1,2]'), SOURCE, 0).contentType, 'application/json');
    assert.equal(
      messageEvent(message(Buffer.from([0xc3, 0x28])), SOURCE, 0).contentType,
      'application/octet-stream',
    );
    assert.equal(messageEvent(message(''), SOURCE, 0).contentType, 'application/octet-stream');
  });
});

describe('RabbitMQ connection URLs', () => {
  const field = 'spec.triggers[t].rabbitmq.connection';

  it('shows host, port and vhost, never the credentials, and redacts them from any text', () => {
    const address = parseBrokerUrl('amqps://app:s3cr%40t-pw@mq.example:5671/orders', field);
    assert.equal(address.display, 'amqps://mq.example:5671/orders');
    assert.equal(address.vhost, 'orders');
    assert.equal(address.connect.password, 's3cr@t-pw');
    assert.equal(
      address.redact('failed amqps://app:s3cr%40t-pw@mq.example/orders with s3cr@t-pw'),
      'failed amqps://mq.example/orders with ***',
    );
    assert.equal(parseBrokerUrl('amqp://mq', field).display, 'amqp://mq:5672/%2F', 'the default vhost, /');
    assert.equal(parseBrokerUrl('amqp://mq/%2F', field).vhost, '/');
    assert.equal(parseBrokerUrl('amqp://mq', field).connect.heartbeat, 15);
    assert.equal(parseBrokerUrl('amqp://mq/?heartbeat=0', field).connect.heartbeat, 0);
  });

  it('refuses what is no AMQP URL with an error naming the field and quoting nothing', () => {
    for (const [raw, words] of [
      ['hunter2', /is not a URL/],
      ['https://u:hunter2@h/', /scheme https:/],
      ['amqp://u:hunter2@h/a/b', /more than one segment/],
      ['amqp://u:hunter2@h/?heartbeat=soon', /heartbeat/],
    ] as const) {
      assert.throws(
        () => parseBrokerUrl(raw, field),
        (err: unknown) =>
          err instanceof SourceConfigError &&
          err.field === field &&
          words.test(err.message) &&
          !err.message.includes('hunter2'),
      );
    }
  });
});
