import assert from 'node:assert/strict';
import { readEgressConfig } from '../src/egress/egress-config.js';
import { EgressGuard, EgressRefusedError, type ResolveHost } from '../src/egress/egress-guard.js';

/** Answers from a table; a name missing from it does not resolve (ENOTFOUND), `hang` never answers. */
const resolver =
  (table: Record<string, string[] | 'hang'>): ResolveHost =>
  async (hostname) => {
    const answer = table[hostname];
    if (answer === 'hang') return new Promise(() => {});
    if (answer === undefined)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answer.map((address) => ({ address }));
  };

const guard = (table: Record<string, string[] | 'hang'>, allow = '') =>
  new EgressGuard({
    config: readEgressConfig({ NIMBUS_EGRESS_ALLOW: allow }),
    platform: () => ({
      endpoints: [{ host: 'nimbus-redis.nimbus.svc', port: 6379 }],
      localPorts: new Set([8080]),
    }),
    resolve: resolver(table),
    lookupTimeoutMs: 50,
  });

describe('EgressGuard: the checks around the policy (DNS at enqueue, the address to connect to)', () => {
  it('refuses a name leading to a private address without saying which address', async () => {
    const why = await guard({ 'db.corp.example': ['10.1.2.3'] }).refusal('http://db.corp.example:5432/');
    assert.match(why ?? '', /^db\.corp\.example port 5432 resolves to a private \(RFC 1918\) address/);
    assert.doesNotMatch(why ?? '', /10\.1\.2\.3/);
  });

  it('names a component reached by name without its address', async () => {
    const why = await guard({ 'nimbus-redis.nimbus.svc': ['10.0.0.9'] }, 'private').refusal(
      'http://nimbus-redis.nimbus.svc:6379/',
    );
    assert.equal(why, 'nimbus-redis.nimbus.svc port 6379 resolves to a Nimbus component');
  });

  it('refuses an internal name that does not resolve, and leaves a public one to connect time', async () => {
    const g = guard({ 'slow.example.com': 'hang', 'slow.svc': 'hang' });
    assert.match(
      (await g.refusal('https://kubernetes.default.svc/')) ?? '',
      /does not resolve here \(ENOTFOUND\)/,
    );
    assert.match((await g.refusal('http://slow.svc/')) ?? '', /no DNS answer within 50 ms/);
    assert.equal(await g.refusal('https://gone.example.com/'), undefined);
    assert.equal(await g.refusal('https://slow.example.com/'), undefined);
  });

  it('accepts a name with one allowed address, and connects to that one', async () => {
    const g = guard({ 'mixed.example.com': ['10.0.0.1', '93.184.216.34', '127.0.0.1'] });
    assert.equal(await g.refusal('https://mixed.example.com/'), undefined);
    assert.equal(await g.pick('mixed.example.com', 443), '93.184.216.34');
  });

  it('throws EgressRefusedError at connect time, naming the address for the log', async () => {
    const g = guard({ 'rebound.example.com': ['169.254.169.254'] });
    await assert.rejects(
      g.pick('rebound.example.com', 80),
      (err: unknown) =>
        err instanceof EgressRefusedError &&
        err.code === 'EGRESS_REFUSED' &&
        /rebound\.example\.com: 169\.254\.169\.254 port 80 is a link-local address/.test(err.message),
    );
    await assert.rejects(g.pick('127.0.0.1', 8080), /port Nimbus itself listens on/);
    await assert.rejects(g.pick('[::1]', 9000), /loopback address/);
  });
});
