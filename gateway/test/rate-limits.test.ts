import assert from 'node:assert/strict';
import { ConfigError, createLogger } from '@nimbus/api';
import { MemoryRateLimitStore, type RateLimitStore, StoreUnavailableError } from '@nimbus/store';
import { ManualClock } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { HashedApiKeys } from '../src/auth/api-keys.js';
import { loadGatewayConfig, parseApiKeys } from '../src/config.js';
import { parseRate } from '../src/quotas/rate-config.js';
import {
  type SignedIn,
  bucketsFor,
  rateOf,
  retryAfterSeconds,
  signedInAs,
} from '../src/quotas/rate-limit-plan.js';
import { RateLimiter } from '../src/quotas/rate-limiter.js';
import { RouteTable } from '../src/routing/route-table.js';

const quiet = createLogger({}, 'error', () => {});
const KEY = 'invoke-key-0123456789';
const OTHER = 'other-key-01234567890';
const T0 = Date.parse('2026-12-06T10:00:00Z');

describe('bucketsFor: which limits a call counts against', () => {
  const limited = {
    key: 'shop/resize',
    rateLimit: { requestsPerSecond: 10, burst: 20, anonymous: { requestsPerSecond: 1 } },
  };
  const keyRate = { perSecond: 5, burst: 5 };
  const alice = { iss: 'https://idp.example', sub: 'alice' };
  const cases: [string, Parameters<typeof bucketsFor>[0], Parameters<typeof bucketsFor>[1], string[]][] = [
    ['no limit anywhere: none', { key: 'shop/free' }, { keyId: undefined }, []],
    [
      'a limited function, a caller without a key: the function and its anonymous callers',
      limited,
      { keyId: undefined },
      ['function fn:shop/resize 10/20', 'anonymous anon:shop/resize 1/1'],
    ],
    [
      'a limited function, a key without a limit: the function only',
      limited,
      { keyId: 'k1', keyRate: undefined },
      ['function fn:shop/resize 10/20'],
    ],
    [
      'a limited function, a limited key: the function and the key',
      limited,
      { keyId: 'k1', keyRate },
      ['function fn:shop/resize 10/20', 'key key:k1 5/5'],
    ],
    [
      'an unlimited function, a limited key: the key, one bucket over every function',
      { key: 'shop/free' },
      { keyId: 'k1', keyRate },
      ['key key:k1 5/5'],
    ],
    [
      'a per-caller limit: a bucket for each key and each signed-in subject, none for the anonymous',
      { key: 'shop/resize', rateLimit: { requestsPerSecond: 10, perCaller: { requestsPerSecond: 2 } } },
      { keyId: 'k1', keyRate: undefined },
      ['function fn:shop/resize 10/10', 'caller caller:shop/resize:k1 2/2'],
    ],
    [
      "a signed-in subject is not anonymous: its own bucket, not the anonymous callers'",
      { key: 'shop/resize', rateLimit: { ...limited.rateLimit, perCaller: { requestsPerSecond: 2 } } },
      { keyId: undefined, signedIn: alice },
      ['function fn:shop/resize 10/20', `caller caller:shop/resize:${signedInAs(alice)} 2/2`],
    ],
    [
      'a signed-in subject of a function without a per-caller limit: the function only',
      limited,
      { keyId: undefined, signedIn: alice },
      ['function fn:shop/resize 10/20'],
    ],
    [
      'a function limit without an anonymous one: anonymous callers share the function bucket only',
      { key: 'a/b', rateLimit: { requestsPerSecond: 0.5 } },
      { keyId: undefined },
      ['function fn:a/b 0.5/1'],
    ],
  ];
  for (const [what, route, caller, expected] of cases) {
    it(what, () =>
      assert.deepEqual(
        bucketsFor(route, caller).map((b) => `${b.scope} ${b.key} ${b.perSecond}/${b.burst}`),
        expected,
      ));
  }

  it('a signed-in subject is named by a digest of issuer and sub, never by the claims themselves', () => {
    const alice = signedInAs({ iss: 'https://idp.example', sub: 'alice@example.com' });
    assert.equal(alice, signedInAs({ iss: 'https://idp.example', sub: 'alice@example.com' }));
    assert.notEqual(alice, signedInAs({ iss: 'https://idp.example', sub: 'bob@example.com' }));
    assert.notEqual(alice, signedInAs({ iss: 'https://other.example', sub: 'alice@example.com' }));
    // The separator cannot be forged by moving characters between the two claims.
    assert.notEqual(signedInAs({ iss: 'a', sub: 'bc' }), signedInAs({ iss: 'ab', sub: 'c' }));
    assert.match(alice, /^jwt:[A-Za-z0-9_-]{22}$/);
    assert.ok(!alice.includes('alice'));
  });

  it('burst defaults to the rate rounded up, and at least 1', () => {
    assert.deepEqual(rateOf({ requestsPerSecond: 2.5 }), { perSecond: 2.5, burst: 3 });
    assert.deepEqual(rateOf({ requestsPerSecond: 0.1 }), { perSecond: 0.1, burst: 1 });
    assert.deepEqual(rateOf({ requestsPerSecond: 4, burst: 40 }), { perSecond: 4, burst: 40 });
  });

  it('Retry-After is whole seconds, rounded up, never 0', () => {
    assert.deepEqual([1, 999, 1000, 1001, 2_500].map(retryAfterSeconds), [1, 1, 1, 2, 3]);
  });
});

describe('key rate limits in the configuration', () => {
  it('reads a rate per key entry and a default for the others, naming the setting of a bad one and never the key', () => {
    const keys = parseApiKeys(`invoke:${KEY};rate=5/10,admin:${OTHER}`);
    assert.deepEqual(keys, [
      { scope: 'invoke', key: KEY, rate: { perSecond: 5, burst: 10 } },
      { scope: 'admin', key: OTHER },
    ]);
    assert.deepEqual(parseRate('0.5', 'X'), { perSecond: 0.5, burst: 1 });
    for (const bad of ['fast', '0', '-1/2', '5/0', '5/x', '']) {
      assert.throws(() => parseRate(bad, 'NIMBUS_KEY_RATE_LIMIT'), ConfigError, bad);
    }
    assert.throws(
      () => parseApiKeys(`invoke:${KEY};rate=lots`),
      (err: Error) => /NIMBUS_API_KEYS: entry 1: rate "lots"/.test(err.message) && !err.message.includes(KEY),
    );
    assert.throws(() => loadGatewayConfig({ NIMBUS_KEY_RATE_LIMIT: '10/abc' }), /NIMBUS_KEY_RATE_LIMIT/);
    assert.deepEqual(loadGatewayConfig({ NIMBUS_KEY_RATE_LIMIT: '10/20' }).keyRateLimit, {
      perSecond: 10,
      burst: 20,
    });
    assert.equal(loadGatewayConfig({}).keyRateLimit, undefined);
  });

  it('a key takes its own rate, else the default; ids are digest prefixes, not keys', () => {
    const keys = new HashedApiKeys(parseApiKeys(`invoke:${KEY};rate=5/10,invoke:${OTHER}`), {
      perSecond: 1,
      burst: 2,
    });
    assert.deepEqual(keys.identify(KEY)?.rate, { perSecond: 5, burst: 10 });
    assert.deepEqual(keys.identify(OTHER)?.rate, { perSecond: 1, burst: 2 });
    assert.match(keys.identify(KEY)?.id ?? '', /^[0-9a-f]{16}$/);
    assert.equal(keys.limited, true);
    assert.equal(new HashedApiKeys(parseApiKeys(`invoke:${KEY}`)).limited, false);
  });
});

describe('RateLimiter: 429 with Retry-After, shared counters, and their fallback', () => {
  function setUp(store?: RateLimitStore) {
    const clock = new ManualClock(T0);
    const registry = new Registry();
    const keys = new HashedApiKeys(parseApiKeys(`invoke:${KEY};rate=1/2,invoke:${OTHER}`));
    const limiter = new RateLimiter(store ?? new MemoryRateLimitStore(clock), keys, registry, clock, quiet);
    const routes = new RouteTable();
    const route = routes.upsert({
      name: 'resize',
      namespace: 'shop',
      timeoutMs: 1000,
      concurrency: 1,
      auth: 'none',
      rateLimit: { requestsPerSecond: 2, burst: 3, anonymous: { requestsPerSecond: 1, burst: 2 } },
    });
    const free = routes.upsert({
      name: 'free',
      namespace: 'shop',
      timeoutMs: 1000,
      concurrency: 1,
      auth: 'none',
    });
    return { clock, registry, limiter, route, free };
  }

  it('a function without a limit, called without a limited key, is not looked up at all', () => {
    const { limiter, free } = setUp();
    assert.equal(limiter.check(free, undefined), undefined);
    assert.equal(limiter.check(free, `Bearer ${OTHER}`), undefined);
  });

  it('anonymous callers get their burst, then 429 naming the limit; a key holder still gets the function limit', async () => {
    const { limiter, route, registry } = setUp();
    const anon = async () => limiter.check(route, undefined);
    assert.equal(await anon(), undefined);
    assert.equal(await anon(), undefined);
    const refused = await anon();
    assert.equal(refused?.status, 429);
    assert.equal(refused?.headers['retry-after'], '1');
    assert.deepEqual(refused?.details, {
      limit: { scope: 'anonymous', function: 'resize.shop', requestsPerSecond: 1, burst: 2 },
      retryAfterSeconds: 1,
    });
    assert.equal(await limiter.check(route, `Bearer ${OTHER}`), undefined, 'the function has a token left');
    const again = await limiter.check(route, `Bearer ${OTHER}`);
    assert.equal(again?.details?.limit && (again.details.limit as { scope: string }).scope, 'function');
    const text = await registry.metrics();
    assert.match(text, /nimbus_rate_limited_total\{function="resize",namespace="shop",scope="anonymous"\} 1/);
    assert.match(text, /nimbus_rate_limited_total\{function="resize",namespace="shop",scope="function"\} 1/);
  });

  it('a per-caller limit holds each signed-in subject to its own bucket, outside the anonymous one', async () => {
    const clock = new ManualClock(T0);
    const registry = new Registry();
    const limiter = new RateLimiter(
      new MemoryRateLimitStore(clock),
      new HashedApiKeys([]),
      registry,
      clock,
      quiet,
    );
    const route = new RouteTable().upsert({
      name: 'orders',
      namespace: 'shop',
      timeoutMs: 1000,
      concurrency: 1,
      auth: 'jwt',
      rateLimit: {
        requestsPerSecond: 100,
        anonymous: { requestsPerSecond: 1, burst: 1 },
        perCaller: { requestsPerSecond: 1, burst: 2 },
      },
    });
    const alice = { iss: 'https://idp', sub: 'alice' };
    const bob = { iss: 'https://idp', sub: 'bob' };
    // The token in Authorization is not an API key: the claims decide, whatever the header holds.
    const call = async (who: SignedIn) => (await limiter.check(route, 'Bearer eyJhbGciOi', who))?.status;
    assert.deepEqual([await call(alice), await call(alice), await call(alice)], [undefined, undefined, 429]);
    assert.deepEqual(
      [await call(bob), await call(bob)],
      [undefined, undefined],
      "alice's calls left bob his",
    );
    const refused = await limiter.check(route, undefined, alice);
    assert.deepEqual(refused?.details?.limit, {
      scope: 'caller',
      function: 'orders.shop',
      requestsPerSecond: 1,
      burst: 2,
    });
    assert.match(refused?.message ?? '', /your own rate limit on function orders/);
    assert.equal(await limiter.check(route, undefined), undefined, 'the anonymous bucket was not spent');
    assert.match(
      await registry.metrics(),
      /nimbus_rate_limited_total\{function="orders",namespace="shop",scope="caller"\} 2/,
    );
  });

  it('a limited key is held to its own rate over every function, and gets tokens back with time', async () => {
    const { limiter, free, clock } = setUp();
    const call = async () => (await limiter.check(free, `Bearer ${KEY}`))?.status;
    assert.deepEqual([await call(), await call(), await call()], [undefined, undefined, 429]);
    clock.advance(999);
    assert.equal(await call(), 429, 'not a millisecond early');
    clock.advance(1);
    assert.equal(await call(), undefined);
  });

  it('with the shared counters away, the limits still hold on this gateway, and the fallback is counted', async () => {
    const away: RateLimitStore = {
      take: () => Promise.reject(new StoreUnavailableError('Redis is away')),
    };
    const { limiter, route, registry } = setUp(away);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await limiter.check(route, undefined))?.status);
    assert.deepEqual(statuses, [undefined, undefined, 429, 429]);
    assert.match(await registry.metrics(), /nimbus_rate_limit_fallbacks_total 4/);
  });
});
