import assert from 'node:assert/strict';
import { ConfigError } from '@nimbus/api';
import { HashedApiKeys, bearerToken } from '../src/auth/api-keys.js';
import { checkScope } from '../src/auth/require-scope.js';
import { loadGatewayConfig, parseApiKeys } from '../src/config.js';
import { callIdFrom, endToEndHeaders } from '../src/http/headers.js';

const ADMIN = 'admin-key-0123456789';
const INVOKER = 'invoke-key-0123456789';

describe('API keys', () => {
  const keys = new HashedApiKeys(parseApiKeys(`admin:${ADMIN},invoke:${INVOKER}`));

  it('lets an admin key invoke too', () => {
    assert.deepEqual([...(keys.scopesOf(ADMIN) ?? [])].sort(), ['admin', 'invoke']);
    assert.deepEqual([...(keys.scopesOf(INVOKER) ?? [])], ['invoke']);
    assert.equal(keys.scopesOf('nope-nope-nope-nope'), undefined);
  });

  it('answers 401 without a key, 403 without the scope, nothing with it', () => {
    assert.equal(checkScope(keys, undefined, 'admin')?.status, 401);
    assert.equal(checkScope(keys, 'Basic abc', 'admin')?.status, 401);
    assert.equal(checkScope(keys, 'Bearer ', 'admin')?.status, 401);
    assert.equal(checkScope(keys, 'Bearer wrong-key-000000000', 'admin')?.status, 401);
    assert.equal(checkScope(keys, `Bearer ${INVOKER}`, 'admin')?.status, 403);
    assert.equal(checkScope(keys, `bearer ${ADMIN}`, 'admin'), undefined);
  });

  it('reads a bearer token, or the password of HTTP Basic (faas-cli login), and nothing else', () => {
    const basic = (userAndPassword: string) => `Basic ${Buffer.from(userAndPassword).toString('base64')}`;
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('Bearer '), undefined, 'what faas-cli sends with no credentials');
    assert.equal(bearerToken('Token abc'), undefined);
    assert.equal(bearerToken(basic(`admin:${ADMIN}`)), ADMIN);
    assert.equal(bearerToken(basic('anyone:p:with:colons')), 'p:with:colons');
    assert.equal(bearerToken(basic('admin:')), undefined, 'no password, no key');
    assert.equal(bearerToken(basic('no-colon')), undefined);
    assert.equal(bearerToken('Basic not*base64'), undefined);
    assert.equal(bearerToken('Basic '), undefined);
  });

  it('takes an admin key given as faas-cli login sends it, and refuses a wrong one', () => {
    const basic = (key: string) => `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`;
    assert.equal(checkScope(keys, basic(ADMIN), 'admin'), undefined);
    assert.equal(checkScope(keys, basic(INVOKER), 'admin')?.status, 403);
    assert.equal(checkScope(keys, basic('wrong-key-000000000'), 'admin')?.status, 401);
  });
});

describe('gateway config', () => {
  it('refuses key entries without a scope or too short', () => {
    assert.throws(() => parseApiKeys('root:0123456789abcdef'), /NIMBUS_API_KEYS: entry 1/);
    assert.throws(() => parseApiKeys(`admin:${ADMIN},invoke:short`), /entry 2: a key must have at least 16/);
  });
  it('names the key and the range of a bad number', () => {
    assert.throws(
      () => loadGatewayConfig({ PORT: '70000' }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^PORT: must be a whole number from 0 to 65535, got "70000"$/);
        return true;
      },
    );
  });
  for (const raw of ['0x10', '1e3', ' 80', '8080.0', '-1', '']) {
    it(`takes only plain digits for a number: ${JSON.stringify(raw)}`, () => {
      if (raw === '') {
        assert.equal(loadGatewayConfig({ PORT: raw }).port, 8080, 'empty means unset');
        return;
      }
      assert.throws(() => loadGatewayConfig({ PORT: raw }), /^ConfigError: PORT: must be a whole number/);
    });
  }
  it('refuses a request timeout shorter than the headers timeout', () => {
    assert.throws(
      () => loadGatewayConfig({ NIMBUS_HEADERS_TIMEOUT_MS: '5000', NIMBUS_REQUEST_TIMEOUT_MS: '1000' }),
      /NIMBUS_REQUEST_TIMEOUT_MS: must be at least/,
    );
  });
  it('has defaults that need no environment', () => {
    const config = loadGatewayConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.maxBodyBytes, 6 * 1024 * 1024);
    assert.equal(config.metricsPort, undefined, 'no key-less metrics port unless asked for');
    assert.ok(Object.isFrozen(config));
  });
  it('reads the metrics port, naming NIMBUS_METRICS_PORT when it is bad', () => {
    assert.equal(loadGatewayConfig({ NIMBUS_METRICS_PORT: '9091' }).metricsPort, 9091);
    assert.throws(() => loadGatewayConfig({ NIMBUS_METRICS_PORT: 'metrics' }), /NIMBUS_METRICS_PORT/);
  });
});

describe('proxy headers', () => {
  it('drops hop-by-hop headers and the ones Connection names', () => {
    const out = endToEndHeaders({
      connection: 'x-private, keep-alive',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'x-private': 'secret',
      upgrade: 'websocket',
      'content-type': 'text/plain',
      traceparent: '00-abc-def-01',
    });
    assert.deepEqual(out, { 'content-type': 'text/plain', traceparent: '00-abc-def-01' });
  });
  it('drops a header the gateway consumed', () => {
    assert.deepEqual(endToEndHeaders({ authorization: 'Bearer k', accept: '*/*' }, 'authorization'), {
      accept: '*/*',
    });
  });
  it("drops a caller's copy of the headers only the gateway may assert", () => {
    const out = endToEndHeaders({
      'x-nimbus-params': '{"id":"other-tenant"}',
      'x-nimbus-auth': '{"sub":"admin","scope":"orders:write"}',
      'x-nimbus-paramsx': 'kept',
      accept: '*/*',
    });
    assert.deepEqual(out, { 'x-nimbus-paramsx': 'kept', accept: '*/*' });
  });
  it("keeps a caller's safe call id and replaces an unsafe one", () => {
    const make = () => 'generated';
    assert.equal(callIdFrom('order-42.retry_1', make), 'order-42.retry_1');
    assert.equal(callIdFrom('bad id\r\nx: y', make), 'generated');
    assert.equal(callIdFrom('x'.repeat(129), make), 'generated');
    assert.equal(callIdFrom(undefined, make), 'generated');
  });
});
