import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { send } from '@nimbus/testkit';
import type { WakeOutcome } from '../src/autoscale/cluster-autoscaler.js';
import { WakeEndpoint, parseWake } from '../src/autoscale/wake-endpoint.js';

describe('parseWake: a gateway’s wake, checked', () => {
  it('takes "namespace/name" and the held count, which defaults to 1', () => {
    assert.deepEqual(parseWake({ function: 'team/hello', held: 3 }), {
      namespace: 'team',
      name: 'hello',
      held: 3,
    });
    assert.deepEqual(parseWake({ function: 'team/hello' }), { namespace: 'team', name: 'hello', held: 1 });
  });
  it('takes a version’s route, "namespace/name@vN", as the name', () => {
    assert.deepEqual(parseWake({ function: 'team/hello@v12', held: 2 }), {
      namespace: 'team',
      name: 'hello@v12',
      held: 2,
    });
  });
  const refused: [string, unknown, string][] = [
    ['a list', [], 'body'],
    ['no function', { held: 1 }, 'function'],
    ['a name without namespace', { function: 'hello' }, 'function'],
    ['three parts', { function: 'a/b/c' }, 'function'],
    ['an upper-case name', { function: 'team/Hello' }, 'function'],
    ['a negative held count', { function: 'team/hello', held: -1 }, 'held'],
    ['a fractional held count', { function: 'team/hello', held: 1.5 }, 'held'],
    ['a version that is no version name', { function: 'team/hello@canary' }, 'function'],
    ['version zero', { function: 'team/hello@v0' }, 'function'],
    ['a bad name before the version', { function: 'team/Hello@v1' }, 'function'],
    ['two versions', { function: 'team/hello@v1@v2' }, 'function'],
    ['a version alone', { function: 'team/@v1' }, 'function'],
  ];
  for (const [what, body, field] of refused) {
    it(`refuses ${what}, naming ${field}`, () => {
      const result = parseWake(body);
      assert.ok('field' in result, JSON.stringify(result));
      assert.equal(result.field, field);
    });
  }
});

describe('WakeEndpoint over HTTP', () => {
  let server: Server;
  let base: string;
  let leader = true;
  let failing = false;
  const calls: [string, string, number][] = [];

  before(async () => {
    const endpoint = new WakeEndpoint(
      {
        async wake(namespace, name, held): Promise<WakeOutcome | undefined> {
          calls.push([namespace, name, held]);
          if (!leader) return undefined;
          if (failing) throw new Error('deployments.apps "x" is forbidden');
          if (name === 'missing') return { outcome: 'not-found' };
          return { outcome: 'raised', replicas: 1 };
        },
      },
      'a-report-token-of-some-length',
    );
    server = createServer((req, res) => {
      if (!endpoint.handle(req, res, (req.url ?? '').split('?')[0] ?? '')) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());
  beforeEach(() => {
    leader = true;
    failing = false;
    calls.length = 0;
  });

  const wake = (body: unknown, token = 'a-report-token-of-some-length') =>
    send(base, '/v1/wake', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('the leader answers 200 with what it did', async () => {
    const reply = await wake({ function: 'team/hello', held: 2 });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json(), { outcome: 'raised', replicas: 1 });
    assert.deepEqual(calls, [['team', 'hello', 2]]);
  });
  it('a replica that does not lead answers 409 NotLeader', async () => {
    leader = false;
    const reply = await wake({ function: 'team/hello' });
    assert.equal(reply.status, 409);
    assert.equal((reply.json() as { error: string }).error, 'NotLeader');
  });
  it('an unknown Function is 404; a failed scale write is 502 with the reason', async () => {
    assert.equal((await wake({ function: 'team/missing' })).status, 404);
    failing = true;
    const reply = await wake({ function: 'team/hello' });
    assert.equal(reply.status, 502);
    assert.match((reply.json() as { message: string }).message, /forbidden/);
  });
  it('refuses a bad body naming the field, no token or a wrong one, and GET, calling nothing', async () => {
    const bad = await wake({ function: 'nope' });
    assert.equal(bad.status, 400);
    assert.equal((bad.json() as { field: string }).field, 'function');
    const notJson = await send(base, '/v1/wake', {
      method: 'POST',
      headers: { authorization: 'Bearer a-report-token-of-some-length' },
      body: '{',
    });
    assert.equal(notJson.status, 400);
    const wrong = await wake({ function: 'team/hello' }, 'a-wrong-token-of-the-same-len');
    assert.equal(wrong.status, 403);
    assert.equal((wrong.json() as { error: string }).error, 'Forbidden');
    const none = await send(base, '/v1/wake', {
      method: 'POST',
      body: JSON.stringify({ function: 'team/hello' }),
    });
    assert.equal(none.status, 401);
    assert.equal((none.json() as { error: string }).error, 'Unauthenticated');
    assert.equal((await send(base, '/v1/wake')).status, 405);
    assert.deepEqual(calls, []);
  });
});
