import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@nimbus/api';
import { eventually } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { ControllerPeers, parsePeerEntry } from '../src/cluster/controller-peers.js';
import { ControllerWaker } from '../src/cluster/controller-waker.js';
import { RouteTable } from '../src/routing/route-table.js';

const quiet = createLogger({}, 'error', () => {});

describe('parsePeerEntry', () => {
  const cases: [string, unknown][] = [
    ['http://10.0.0.5:9090', { kind: 'static', url: 'http://10.0.0.5:9090' }],
    ['https://controller.example/', { kind: 'static', url: 'https://controller.example' }],
    [
      'dns+http://peers.nimbus.svc:9090',
      { kind: 'dns', protocol: 'http:', host: 'peers.nimbus.svc', port: '9090' },
    ],
    ['dns+https://peers', { kind: 'dns', protocol: 'https:', host: 'peers', port: '' }],
    ['peers:9090', undefined],
    ['http://c:9090/v1', undefined],
    ['dns+ftp://c', undefined],
  ];
  for (const [raw, expected] of cases) {
    it(`${raw} → ${JSON.stringify(expected)}`, () => assert.deepEqual(parsePeerEntry(raw), expected));
  }
});

describe('ControllerPeers', () => {
  it('expands a dns+ entry to one URL per address, looks up again only after refreshMs, and keeps the last list when a lookup fails', async () => {
    let time = 0;
    let answer: string[] | Error = ['10.0.0.6', '10.0.0.5'];
    let lookups = 0;
    const peers = new ControllerPeers(
      [parsePeerEntry('dns+http://peers:9090'), parsePeerEntry('http://static:1')].map((e) => {
        assert.ok(e !== undefined);
        return e;
      }),
      5000,
      async () => {
        lookups++;
        if (answer instanceof Error) throw answer;
        return answer;
      },
      () => time,
    );
    assert.deepEqual(await peers.urls(), ['http://10.0.0.5:9090', 'http://10.0.0.6:9090', 'http://static:1']);
    answer = ['10.0.0.7'];
    time = 4999;
    assert.deepEqual(await peers.urls(), ['http://10.0.0.5:9090', 'http://10.0.0.6:9090', 'http://static:1']);
    assert.equal(lookups, 1);
    time = 5000;
    assert.deepEqual(await peers.urls(), ['http://10.0.0.7:9090', 'http://static:1']);
    answer = new Error('ENOTFOUND');
    time = 20_000;
    assert.deepEqual(await peers.urls(), ['http://10.0.0.7:9090', 'http://static:1']);
    assert.equal(lookups, 3);
  });

  it('resolves a real name through the system resolver (localhost)', async () => {
    const entry = parsePeerEntry('dns+http://localhost:9090');
    assert.ok(entry !== undefined);
    const urls = await new ControllerPeers([entry]).urls();
    assert.ok(urls.includes('http://127.0.0.1:9090'), JSON.stringify(urls));
  });
});

/** A fake controller replica over real HTTP: answers wakes as told, and records them. */
async function controller(answer: (body: unknown) => [number, unknown]) {
  const bodies: unknown[] = [];
  const pending: (() => void)[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      bodies.push({ auth: req.headers.authorization, path: req.url, body });
      const [status, reply] = answer(body);
      const respond = () =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
      if (held.gate) pending.push(respond);
      else respond();
    });
  });
  const held = { gate: false };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    held,
    release: () => {
      for (const respond of pending.splice(0)) respond();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('ControllerWaker: a held request wakes every controller replica at once', () => {
  const route = () => {
    const routes = new RouteTable();
    return routes.upsert({ name: 'hello', namespace: 'team', timeoutMs: 1000, concurrency: 1, auth: 'none' });
  };
  const waker = (urls: string[], registry = new Registry()) =>
    new ControllerWaker(
      new ControllerPeers(urls.map((u) => ({ kind: 'static', url: u }))),
      'a-report-token-of-some-length',
      2000,
      registry,
      quiet,
    );

  it('sends the function and its held count to every replica; the leader’s "raised" is the result and is timed', async () => {
    const standby = await controller(() => [409, { error: 'NotLeader' }]);
    const leader = await controller(() => [200, { outcome: 'raised', replicas: 1 }]);
    const registry = new Registry();
    try {
      const r = route();
      r.held.add({ release: () => {}, drop: () => {} });
      r.held.add({ release: () => {}, drop: () => {} });
      const result = await waker([standby.url, leader.url], registry).send(r);
      assert.equal(result, 'raised');
      for (const c of [standby, leader]) {
        assert.deepEqual(c.bodies, [
          {
            auth: 'Bearer a-report-token-of-some-length',
            path: '/v1/wake',
            body: { function: 'team/hello', held: 2 },
          },
        ]);
      }
      const text = await registry.getSingleMetricAsString('nimbus_gateway_wake_seconds');
      assert.match(text, /^nimbus_gateway_wake_seconds_count 1$/m);
      const wakes = (await registry.getSingleMetric('nimbus_gateway_wakes_total')?.get())?.values ?? [];
      assert.deepEqual(
        wakes.map((v) => [v.labels.result, v.value]),
        [['raised', 1]],
      );
    } finally {
      await standby.close();
      await leader.close();
    }
  });

  it('no leader, or no controller reachable: "no-leader", and the next report is left to wake it', async () => {
    const standby = await controller(() => [409, { error: 'NotLeader' }]);
    try {
      assert.equal(await waker([standby.url]).send(route()), 'no-leader');
      assert.equal(await waker(['http://127.0.0.1:1']).send(route()), 'no-leader');
    } finally {
      await standby.close();
    }
  });

  it('one wake per function in flight: requests held meanwhile ride on it', async () => {
    const leader = await controller(() => [200, { outcome: 'raised', replicas: 1 }]);
    leader.held.gate = true;
    try {
      const w = waker([leader.url]);
      const r = route();
      w.wake(r);
      await eventually(() => (leader.bodies.length === 1 ? true : undefined), 5000, 'the first wake');
      w.wake(r);
      w.wake(r);
      leader.release();
      leader.held.gate = false;
      // Once the first is answered, a new hold may wake again.
      await eventually(
        () => {
          w.wake(r);
          return leader.bodies.length === 2 ? true : undefined;
        },
        5000,
        'a second wake after the first was answered',
      );
      assert.equal(leader.bodies.length, 2);
    } finally {
      await leader.close();
    }
  });

  it('wakes of many functions go at once: a burst is not queued behind the first few', async () => {
    // A wake is answered only once the scale is written (and a pool pod has loaded the function),
    // so a cap of a few connections made a burst of a hundred wakes wait for one another for 20 s.
    const leader = await controller(() => [200, { outcome: 'raised', replicas: 1 }]);
    leader.held.gate = true;
    const routes = new RouteTable();
    try {
      const w = waker([leader.url]);
      for (let i = 0; i < 40; i++) {
        w.wake(
          routes.upsert({
            name: `fn-${i}`,
            namespace: 'team',
            timeoutMs: 1000,
            concurrency: 1,
            auth: 'none',
          }),
        );
      }
      // Within the waker's 2 s timeout: none has been answered, so none has made room for another.
      await eventually(
        () => (leader.bodies.length === 40 ? true : undefined),
        1500,
        'all 40 wakes at the controller at once',
      );
      assert.equal(leader.bodies.length, 40);
    } finally {
      leader.release();
      await leader.close();
    }
  });
});
