import assert from 'node:assert/strict';
import { ConfigError } from '@nimbus/api';
import { decodeCall, encodeCall } from '../src/async/call-message.js';
import { isCallbackUrl } from '../src/async/callback-sender.js';
import { loadGatewayConfig } from '../src/config.js';

describe('async settings (loadGatewayConfig)', () => {
  const keyOf = (env: Record<string, string>) => {
    try {
      loadGatewayConfig(env);
      return undefined;
    } catch (err) {
      return err instanceof ConfigError ? err.key : `not a ConfigError: ${err}`;
    }
  };

  it('defaults: in memory, 32 workers, a body that fits a NATS message', () => {
    const config = loadGatewayConfig({});
    assert.equal(config.async.natsUrl, undefined);
    assert.equal(config.store.redisUrl, undefined);
    assert.equal(config.async.concurrency, 32);
    assert.equal(config.async.maxBodyBytes, 960 * 1024);
    assert.equal(config.async.callbackAttempts, 3);
    assert.ok(Object.isFrozen(config.async));
  });

  it('reads the URLs and numbers', () => {
    const config = loadGatewayConfig({
      NIMBUS_NATS_URL: 'nats://a:4222,nats://b:4222',
      NIMBUS_REDIS_URL: 'redis://127.0.0.1:6380',
      NIMBUS_ASYNC_CONCURRENCY: '4',
      NIMBUS_CALLBACK_TIMEOUT_MS: '500',
    });
    assert.equal(config.async.natsUrl, 'nats://a:4222,nats://b:4222');
    assert.equal(config.store.redisUrl, 'redis://127.0.0.1:6380');
    assert.equal(config.async.concurrency, 4);
    assert.equal(config.async.callbackTimeoutMs, 500);
  });

  const refused: [Record<string, string>, string][] = [
    [{ NIMBUS_NATS_URL: 'http://nats:4222' }, 'NIMBUS_NATS_URL'],
    [{ NIMBUS_NATS_URL: 'nats://a:4222,bogus' }, 'NIMBUS_NATS_URL'],
    [{ NIMBUS_REDIS_URL: 'localhost:6379' }, 'NIMBUS_REDIS_URL'],
    [{ NIMBUS_CALL_TTL_SECONDS: '5' }, 'NIMBUS_CALL_TTL_SECONDS'],
    [{ NIMBUS_ASYNC_CONCURRENCY: '0' }, 'NIMBUS_ASYNC_CONCURRENCY'],
    [{ NIMBUS_ASYNC_CONCURRENCY: 'many' }, 'NIMBUS_ASYNC_CONCURRENCY'],
    [{ NIMBUS_ASYNC_MAX_BODY_BYTES: '1e6' }, 'NIMBUS_ASYNC_MAX_BODY_BYTES'],
    [{ NIMBUS_CALLBACK_ATTEMPTS: '11' }, 'NIMBUS_CALLBACK_ATTEMPTS'],
  ];
  for (const [env, key] of refused) {
    it(`refuses ${JSON.stringify(env)}, naming ${key}`, () => assert.equal(keyOf(env), key));
  }
});

describe('the call message', () => {
  const call = {
    id: 'call-1',
    namespace: 'team',
    function: 'resize',
    method: 'POST',
    path: '/images/7?size=small',
    headers: { 'content-type': 'image/png', 'x-note': 'line one: "quoted" ünïcode' },
    body: new Uint8Array([0, 255, 10, 13]),
    callbackUrl: 'https://example.test/hook',
    acceptedAt: 1_700_000_000_000,
  };

  it('round-trips a request, its body as bytes, on the function subject, deduplicated by the message id', () => {
    const message = encodeCall(call, 'call-1');
    assert.equal(message.subject, 'nimbus.calls.team.resize');
    assert.equal(message.options.msgId, 'call-1');
    for (const value of Object.values(message.options.headers ?? {})) assert.doesNotMatch(value, /[\r\n]/);
    const decoded = decodeCall({
      subject: message.subject,
      headers: message.options.headers ?? {},
      data: message.data,
    });
    assert.deepEqual(decoded, call);
  });

  it('carries the trace context as the NATS headers traceparent and tracestate, beside the request', () => {
    const traceContext = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'team=a',
    };
    const message = encodeCall({ ...call, traceContext }, 'call-1');
    assert.equal(message.options.headers?.traceparent, traceContext.traceparent);
    assert.equal(message.options.headers?.tracestate, traceContext.tracestate);
    const decoded = decodeCall({
      subject: message.subject,
      headers: message.options.headers ?? {},
      data: message.data,
    });
    assert.deepEqual(decoded, { ...call, traceContext });
    // A tracestate alone names no trace: it is not carried on.
    const { traceparent: _, ...withoutParent } = message.options.headers ?? {};
    const alone = decodeCall({ subject: message.subject, headers: withoutParent, data: message.data });
    assert.equal('traceContext' in alone, false);
  });

  it('keeps the call id apart from the message id (a redrive)', () => {
    const message = encodeCall(call, 'call-1:redrive:5');
    const decoded = decodeCall({
      subject: message.subject,
      headers: message.options.headers ?? {},
      data: message.data,
    });
    assert.equal('id' in decoded && decoded.id, 'call-1');
  });

  const broken: [string, string, Record<string, string>, RegExp][] = [
    ['another subject', 'orders.created', { 'Nimbus-Call-Id': 'x' }, /not a call subject/],
    ['no call id', 'nimbus.calls.team.resize', {}, /no Nimbus-Call-Id/],
    [
      'a request header that is not JSON',
      'nimbus.calls.team.resize',
      { 'Nimbus-Call-Id': 'x', 'Nimbus-Call-Request': '{' },
      /not JSON/,
    ],
    [
      'a request without a path',
      'nimbus.calls.team.resize',
      { 'Nimbus-Call-Id': 'x', 'Nimbus-Call-Request': '{"m":"POST","h":{},"t":1}' },
      /lacks/,
    ],
  ];
  for (const [name, subject, headers, why] of broken) {
    it(`says why it cannot read ${name}`, () => {
      const decoded = decodeCall({ subject, headers, data: new Uint8Array() });
      assert.ok('invalid' in decoded);
      assert.match(decoded.invalid, why);
    });
  }
});

describe('isCallbackUrl (X-Callback-Url)', () => {
  const cases: [string, boolean][] = [
    ['http://127.0.0.1:9000/hook', true],
    ['https://hooks.example.com/a?b=c', true],
    ['ftp://example.com/x', false],
    ['javascript:alert(1)', false],
    ['/relative/path', false],
    ['http://exa mple.com/', false],
    ['http://', false],
    [`https://example.com/${'a'.repeat(2100)}`, false],
  ];
  for (const [url, ok] of cases) {
    it(`${url.slice(0, 40)} → ${ok}`, () => assert.equal(isCallbackUrl(url), ok));
  }
});
