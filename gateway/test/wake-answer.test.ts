import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import { Registry } from 'prom-client';
import { ControllerPeers } from '../src/cluster/controller-peers.js';
import { ControllerWaker } from '../src/cluster/controller-waker.js';
import { EarlyEndpoints } from '../src/cluster/early-endpoints.js';
import { wakeEndpointOf } from '../src/cluster/wake-answer.js';
import { upstream } from './replicas.js';
import { routeAtZero } from './route-at-zero.js';

const quiet = createLogger({}, 'error', () => {});

describe('wakeEndpointOf: the pool pod a wake answer names, checked strictly', () => {
  const good: [string, unknown, unknown][] = [
    ['no endpoint: nothing named', { outcome: 'raised', replicas: 1 }, undefined],
    [
      'a pod IPv4 address',
      { endpoint: { host: '10.244.3.7', port: 8080 } },
      { host: '10.244.3.7', port: 8080 },
    ],
    [
      'a pod IPv6 address, lower-cased',
      { endpoint: { host: 'FD00::7', port: 8080 } },
      { host: 'fd00::7', port: 8080 },
    ],
    [
      'port 1 and 65535 are ports',
      { endpoint: { host: '10.0.0.1', port: 65_535 } },
      { host: '10.0.0.1', port: 65_535 },
    ],
  ];
  for (const [name, answer, expected] of good)
    it(`${name}`, () => assert.deepEqual(wakeEndpointOf(answer), expected));

  const refused: [string, unknown][] = [
    ['a host name', { host: 'evil.example', port: 8080 }],
    ['a URL', { host: 'http://10.0.0.1:8080/', port: 8080 }],
    ['an address with a port in it', { host: '10.0.0.1:80', port: 8080 }],
    ['an IPv6 zone', { host: 'fd00::7%eth0', port: 8080 }],
    ['loopback', { host: '127.0.0.1', port: 8080 }],
    ['IPv6 loopback', { host: '::1', port: 8080 }],
    ['the cloud metadata address (link-local)', { host: '169.254.169.254', port: 80 }],
    ['unspecified', { host: '0.0.0.0', port: 8080 }],
    ['IPv4-mapped loopback', { host: '::ffff:127.0.0.1', port: 8080 }],
    ['multicast', { host: '224.0.0.1', port: 8080 }],
    ['port 0', { host: '10.0.0.1', port: 0 }],
    ['port 70000', { host: '10.0.0.1', port: 70_000 }],
    ['a fractional port', { host: '10.0.0.1', port: 80.5 }],
    ['a port as a string', { host: '10.0.0.1', port: '8080' }],
    ['an extra field', { host: '10.0.0.1', port: 8080, path: '/admin' }],
    ['a missing port', { host: '10.0.0.1' }],
    ['a host that is a number', { host: 167_772_161, port: 8080 }],
    ['a list', ['10.0.0.1', 8080]],
    ['a string', '10.0.0.1:8080'],
    ['null', null],
  ];
  for (const [name, endpoint] of refused)
    it(`refuses ${name}`, () => {
      const result = wakeEndpointOf({ outcome: 'raised', replicas: 1, endpoint });
      assert.ok(result !== undefined && 'invalid' in result, JSON.stringify(result));
    });
});

/** A controller that answers every wake 200 with `body`, over real HTTP. */
async function controllerAnswering(body: string): Promise<{ url: string; close(): Promise<void> }> {
  const { server, port } = await upstream((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('ControllerWaker: the endpoint in the leader’s answer', () => {
  async function wakeWith(body: string) {
    const controller = await controllerAnswering(body);
    const { routes, route, released, hold } = routeAtZero();
    hold();
    const registry = new Registry();
    const lines: string[] = [];
    const log = createLogger({}, 'debug', (line) => lines.push(line));
    const waker = new ControllerWaker(
      new ControllerPeers([{ kind: 'static', url: controller.url }]),
      'a-report-token-of-some-length',
      2000,
      registry,
      log,
      new EarlyEndpoints(routes, registry, quiet),
    );
    try {
      const result = await waker.send(route);
      return { result, route, released, lines, registry };
    } finally {
      waker.close();
      await controller.close();
    }
  }

  it('a valid endpoint joins the route at once: the held request goes, before any slice lists it', async () => {
    const { result, route, released, registry } = await wakeWith(
      JSON.stringify({ outcome: 'raised', replicas: 1, endpoint: { host: '10.244.3.7', port: 8080 } }),
    );
    assert.equal(result, 'raised');
    assert.deepEqual(
      route.endpoints.map((e) => e.origin),
      ['http://10.244.3.7:8080'],
    );
    assert.deepEqual(released, ['held']);
    const early =
      (await registry.getSingleMetric('nimbus_gateway_early_endpoints_total')?.get())?.values ?? [];
    assert.deepEqual(
      early.map((v) => [v.labels.via, v.value]),
      [['wake', 1]],
    );
  });

  it('an "unchanged" answer (another gateway woke it) naming the pod is taken too', async () => {
    const { result, route } = await wakeWith(
      JSON.stringify({ outcome: 'unchanged', replicas: 1, endpoint: { host: '10.244.3.7', port: 8080 } }),
    );
    assert.equal(result, 'unchanged');
    assert.equal(route.endpoints.length, 1);
  });

  // The attack: whoever answers the wake (a spoofed controller, a garbled proxy) tries to steer
  // callers' requests elsewhere. Each answer is ignored with a debug line and never throws.
  const hostile: [string, string][] = [
    [
      'a host name',
      JSON.stringify({ outcome: 'raised', replicas: 1, endpoint: { host: 'attacker.example', port: 80 } }),
    ],
    [
      'a URL',
      JSON.stringify({ outcome: 'raised', replicas: 1, endpoint: { host: 'http://10.0.0.9/', port: 80 } }),
    ],
    ['port 0', JSON.stringify({ outcome: 'raised', replicas: 1, endpoint: { host: '10.0.0.9', port: 0 } })],
    [
      'port 70000',
      JSON.stringify({ outcome: 'raised', replicas: 1, endpoint: { host: '10.0.0.9', port: 70_000 } }),
    ],
    [
      'extra fields',
      JSON.stringify({
        outcome: 'raised',
        replicas: 1,
        endpoint: { host: '10.0.0.9', port: 80, origin: 'http://x' },
      }),
    ],
    [
      'the metadata service',
      JSON.stringify({ outcome: 'raised', replicas: 1, endpoint: { host: '169.254.169.254', port: 80 } }),
    ],
    [
      'a prototype key',
      '{"outcome":"raised","replicas":1,"endpoint":{"__proto__":{"host":"10.0.0.9"},"port":80}}',
    ],
    ['garbled JSON', '{"outcome":"raised","replicas":1,"endpoint":{"host":"10.0.0.9","po'],
  ];
  for (const [name, body] of hostile) {
    it(`attack: an answer with ${name} is ignored and never becomes an endpoint`, async () => {
      const { result, route, released, lines, registry } = await wakeWith(body);
      assert.ok(result === 'raised' || result === 'unchanged', result);
      assert.deepEqual(route.endpoints, []);
      assert.deepEqual(released, [], 'the held request still waits for a real replica');
      const early =
        (await registry.getSingleMetric('nimbus_gateway_early_endpoints_total')?.get())?.values ?? [];
      assert.equal(
        early.reduce((sum, v) => sum + v.value, 0),
        0,
      );
      if (name !== 'garbled JSON')
        assert.ok(
          lines.some((l) => l.includes('ignored the endpoint a wake answer named')),
          lines.join('\n'),
        );
    });
  }
});
