import assert from 'node:assert/strict';
import {
  type EndpointSlice,
  type SliceEndpoint,
  type SlicePort,
  functionOfSlice,
  readyEndpoints,
  startingEndpoints,
} from '../src/cluster/endpoint-slice.js';

const http = (port: number): SlicePort => ({ name: 'http', port, protocol: 'TCP' });

function slice(name: string, endpoints: SliceEndpoint[], ports: SlicePort[] = [http(8080)]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'ns', labels: { 'kubernetes.io/service-name': 'hello' } },
    addressType: 'IPv4',
    ports,
    endpoints,
  };
}

const at = (address: string, conditions?: SliceEndpoint['conditions']): SliceEndpoint => ({
  addresses: [address],
  ...(conditions === undefined ? {} : { conditions }),
});

describe('readyEndpoints (EndpointSlices → the replicas a function may get requests on)', () => {
  const cases: { name: string; slices: EndpointSlice[]; expected: string[] }[] = [
    { name: 'no slices: no replicas', slices: [], expected: [] },
    {
      name: 'a ready endpoint, at the http port',
      slices: [slice('a', [at('10.0.0.1', { ready: true })])],
      expected: ['10.0.0.1:8080'],
    },
    {
      name: 'ready missing counts as ready (the API says nil means true)',
      slices: [slice('a', [at('10.0.0.1', {}), at('10.0.0.2')])],
      expected: ['10.0.0.1:8080', '10.0.0.2:8080'],
    },
    {
      name: 'ready null counts as ready',
      slices: [slice('a', [at('10.0.0.1', { ready: null })])],
      expected: ['10.0.0.1:8080'],
    },
    {
      name: 'a not-ready endpoint gets nothing',
      slices: [slice('a', [at('10.0.0.1', { ready: false }), at('10.0.0.2', { ready: true })])],
      expected: ['10.0.0.2:8080'],
    },
    {
      name: 'a terminating endpoint gets no new requests, even while it is serving',
      slices: [
        slice('a', [
          at('10.0.0.1', { ready: false, serving: true, terminating: true }),
          at('10.0.0.3', { serving: true, terminating: true }),
          at('10.0.0.2', { ready: true, serving: true, terminating: false }),
        ]),
      ],
      expected: ['10.0.0.2:8080'],
    },
    {
      name: 'the union over several slices, in slice name order',
      slices: [slice('b', [at('10.0.0.2')]), slice('a', [at('10.0.0.1')])],
      expected: ['10.0.0.1:8080', '10.0.0.2:8080'],
    },
    {
      name: 'an endpoint listed by two slices (while it moves between them) counts once',
      slices: [slice('a', [at('10.0.0.1')]), slice('b', [at('10.0.0.1'), at('10.0.0.2')])],
      expected: ['10.0.0.1:8080', '10.0.0.2:8080'],
    },
    {
      name: 'the port is found by its name, not its position',
      slices: [slice('a', [at('10.0.0.1')], [{ name: 'metrics', port: 9090 }, http(8081)])],
      expected: ['10.0.0.1:8081'],
    },
    {
      name: 'a slice without an http port contributes nothing',
      slices: [
        slice('a', [at('10.0.0.1')], [{ name: 'metrics', port: 9090 }]),
        slice('b', [at('10.0.0.2')], []),
      ],
      expected: [],
    },
    {
      name: 'a port without a number (all ports) contributes nothing',
      slices: [slice('a', [at('10.0.0.1')], [{ name: 'http', port: null }])],
      expected: [],
    },
    {
      name: 'slices with different ports keep each port',
      slices: [slice('a', [at('10.0.0.1')], [http(8080)]), slice('b', [at('10.0.0.1')], [http(9000)])],
      expected: ['10.0.0.1:8080', '10.0.0.1:9000'],
    },
    {
      name: 'IPv6 addresses are kept as they are; the id brackets them',
      slices: [{ ...slice('a', [at('fd00::2'), at('fd00::3', { ready: false })]), addressType: 'IPv6' }],
      expected: ['[fd00::2]:8080'],
    },
    {
      name: 'the first address of an endpoint is the one used',
      slices: [slice('a', [{ addresses: ['10.0.0.1', '10.0.0.9'] }])],
      expected: ['10.0.0.1:8080'],
    },
    {
      name: 'null endpoints and an endpoint without addresses are skipped',
      slices: [{ ...slice('a', []), endpoints: null }, slice('b', [{ addresses: [] }])],
      expected: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(
        readyEndpoints(c.slices).map((e) => e.id),
        c.expected,
      );
    });
  }

  it('gives host and port apart from the id, with IPv6 unbracketed', () => {
    const [endpoint] = readyEndpoints([{ ...slice('a', [at('fd00::2')]), addressType: 'IPv6' }]);
    assert.deepEqual(endpoint, { id: '[fd00::2]:8080', host: 'fd00::2', port: 8080 });
  });
});

describe('startingEndpoints (new pods the gateway may probe itself)', () => {
  const cases: { name: string; slices: EndpointSlice[]; expected: string[] }[] = [
    {
      name: 'ready false and not terminating: starting, at the http port',
      slices: [
        slice('a', [at('10.0.0.1', { ready: false }), at('10.0.0.2', { ready: false, terminating: false })]),
      ],
      expected: ['10.0.0.1:8080', '10.0.0.2:8080'],
    },
    {
      name: 'ready, ready missing or null, and terminating ones are not starting',
      slices: [
        slice('a', [
          at('10.0.0.1', { ready: true }),
          at('10.0.0.2'),
          at('10.0.0.3', { ready: null }),
          at('10.0.0.4', { ready: false, terminating: true }),
        ]),
      ],
      expected: [],
    },
    {
      name: 'one another slice lists ready already is not starting',
      slices: [slice('a', [at('10.0.0.1', { ready: false })]), slice('b', [at('10.0.0.1', { ready: true })])],
      expected: [],
    },
    {
      name: 'no address, or no http port: nothing to probe',
      slices: [
        slice('a', [{ addresses: [], conditions: { ready: false } }]),
        slice('b', [at('10.0.0.2', { ready: false })], []),
      ],
      expected: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(
        startingEndpoints(c.slices).map((e) => e.id),
        c.expected,
      );
    });
  }
});

describe('functionOfSlice', () => {
  it('names the function by the Service the slice was made for', () => {
    assert.deepEqual(functionOfSlice(slice('hello-abc', [])), { namespace: 'ns', name: 'hello' });
  });
  it('gives nothing for a slice without the service-name label', () => {
    assert.equal(functionOfSlice({ metadata: { name: 'x', namespace: 'ns' } }), undefined);
    assert.equal(
      functionOfSlice({
        metadata: { name: 'x', namespace: 'ns', labels: { 'kubernetes.io/service-name': '' } },
      }),
      undefined,
    );
  });
});

describe('functionOfSlice (a slice → the route it feeds)', () => {
  const labelled = (labels: Record<string, string>): EndpointSlice => ({
    metadata: { name: 's', namespace: 'ns', labels },
    addressType: 'IPv4',
  });
  const cases: [string, Record<string, string>, string | undefined][] = [
    ['an unversioned Service named like its Function', { 'kubernetes.io/service-name': 'hello' }, 'hello'],
    [
      "a version's Service",
      {
        'kubernetes.io/service-name': 'hello-v3',
        'nimbus.dev/function': 'hello',
        'nimbus.dev/version': 'v3',
      },
      'hello@v3',
    ],
    [
      'a version label that does not match the Service',
      {
        'kubernetes.io/service-name': 'other-v3',
        'nimbus.dev/function': 'hello',
        'nimbus.dev/version': 'v3',
      },
      undefined,
    ],
    [
      'a version label that is no version',
      { 'kubernetes.io/service-name': 'hello-x', 'nimbus.dev/function': 'hello', 'nimbus.dev/version': 'x' },
      undefined,
    ],
    [
      'a version label without a function label',
      { 'kubernetes.io/service-name': 'hello-v3', 'nimbus.dev/version': 'v3' },
      undefined,
    ],
  ];
  for (const [what, labels, expected] of cases) {
    it(`${what} → ${expected ?? 'none'}`, () =>
      assert.equal(functionOfSlice(labelled(labels))?.name, expected));
  }
});
