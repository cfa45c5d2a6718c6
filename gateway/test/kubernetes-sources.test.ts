import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type FunctionResource, createLogger } from '@nimbus/api';
import type { InformerEvent } from '@nimbus/kube';
import { EndpointSliceSource } from '../src/cluster/endpoint-slice-source.js';
import type { EndpointSlice } from '../src/cluster/endpoint-slice.js';
import { NOT_READY_YET } from '../src/cluster/function-route.js';
import { FunctionSource } from '../src/cluster/function-source.js';
import { RouteTable } from '../src/routing/route-table.js';
import { FakeInformer } from './fake-informer.js';

const quiet = createLogger({}, 'error', () => {});

const fn = (name: string, extra: Partial<FunctionResource> = {}): FunctionResource => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name, namespace: 'ns', resourceVersion: String(Math.random()) },
  spec: {
    runtime: 'node20',
    handler: 'index.default',
    source: { inline: 'x' },
    timeout: '2s',
    concurrency: 7,
    scale: { min: 0, max: 1, target: 1, scaleToZeroAfter: '60s' },
    http: { auth: 'key' },
  },
  ...extra,
});

const slice = (name: string, service: string, addresses: string[], ready = true): EndpointSlice => ({
  metadata: { name, namespace: 'ns', labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080 }],
  endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready } })),
});

describe('the Kubernetes sources feeding the route table', () => {
  let functions: FakeInformer<FunctionResource>;
  let slices: FakeInformer<EndpointSlice>;
  let routes: RouteTable;

  beforeEach(() => {
    functions = new FakeInformer();
    slices = new FakeInformer();
    routes = new RouteTable();
    const endpoints = new EndpointSliceSource(slices);
    new FunctionSource(functions, endpoints, routes, quiet);
  });

  const hosts = (name: string) => routes.get('ns', name)?.endpoints.map((e) => e.host);

  it('routes a Function with the settings of its spec, and no replicas until a slice says so', () => {
    functions.put(fn('hello'));
    const route = routes.get('ns', 'hello');
    assert.equal(route?.timeoutMs, 2000);
    assert.equal(route?.concurrency, 7);
    assert.equal(route?.auth, 'key');
    assert.deepEqual(route?.endpoints, []);
    assert.equal(route?.unavailableReason, NOT_READY_YET);
    slices.put(slice('hello-a', 'hello', ['10.0.0.1']));
    assert.deepEqual(hosts('hello'), ['10.0.0.1']);
    assert.equal(route?.unavailableReason, undefined);
  });

  it("serves each Function's routes, a contested one from the earlier Function until it is deleted", () => {
    const withRoutes = (name: string, created: string) => {
      const f = fn(name);
      f.metadata.creationTimestamp = created;
      f.spec.http.routes = [{ path: '/api/{x}' }];
      return f;
    };
    const later = withRoutes('later', '2026-01-02T00:00:00Z');
    const earlier = withRoutes('earlier', '2026-01-01T00:00:00Z');
    functions.put(later);
    functions.put(earlier);
    const holder = () => {
      const found = routes.http.match('GET', undefined, '/api/1');
      return found.kind === 'found' ? found.target.fnKey : found.kind;
    };
    assert.equal(holder(), 'ns/earlier');
    functions.put({
      ...earlier,
      metadata: { ...earlier.metadata, deletionTimestamp: '2026-01-03T00:00:00Z' },
    });
    assert.equal(holder(), 'ns/later', 'a Function being deleted gives its routes up');
    functions.remove(earlier);
    assert.equal(holder(), 'ns/later');
    functions.remove(later);
    assert.equal(holder(), 'none');
  });

  it('keeps slices that come before their Function and applies them when it appears', () => {
    slices.put(slice('early-a', 'early', ['10.0.0.1']));
    assert.equal(routes.get('ns', 'early'), undefined);
    functions.put(fn('early'));
    assert.deepEqual(hosts('early'), ['10.0.0.1']);
  });

  it('uses the union of all slices, and follows their changes and deletions', () => {
    functions.put(fn('hello'));
    slices.put(slice('hello-a', 'hello', ['10.0.0.1']));
    slices.put(slice('hello-b', 'hello', ['10.0.0.2']));
    slices.put(slice('other-a', 'other', ['10.0.0.9']));
    assert.deepEqual(hosts('hello'), ['10.0.0.1', '10.0.0.2']);
    slices.put(slice('hello-a', 'hello', ['10.0.0.1'], false));
    assert.deepEqual(hosts('hello'), ['10.0.0.2']);
    slices.remove(slice('hello-b', 'hello', []));
    assert.deepEqual(hosts('hello'), []);
  });

  it('moves a relabelled slice to its new function', () => {
    functions.put(fn('one'));
    functions.put(fn('two'));
    slices.put(slice('s', 'one', ['10.0.0.1']));
    slices.put(slice('s', 'two', ['10.0.0.1']));
    assert.deepEqual(hosts('one'), []);
    assert.deepEqual(hosts('two'), ['10.0.0.1']);
  });

  it("gives the Ready condition's message as the reason while no replica is ready", () => {
    const message = 'spec.source.inline is 1200000 bytes; a ConfigMap holds at most 1048576';
    functions.put(
      fn('big', {
        status: { conditions: [{ type: 'Ready', status: 'False', reason: 'SourceTooLarge', message }] },
      }),
    );
    assert.equal(routes.get('ns', 'big')?.unavailableReason, message);
  });

  it('keeps the route object (and its in-flight count) when the Function changes', () => {
    functions.put(fn('hello'));
    const route = routes.get('ns', 'hello');
    if (route === undefined) throw new Error('no route');
    for (let i = 0; i < 3; i++) route.load.begin();
    functions.put(fn('hello', { status: { readyReplicas: 1 } }));
    assert.equal(routes.get('ns', 'hello'), route);
    assert.equal(route.load.inflight, 3);
  });

  it('removes the route when the Function goes, and a later Function starts from its slices', () => {
    functions.put(fn('hello'));
    slices.put(slice('hello-a', 'hello', ['10.0.0.1']));
    functions.remove(fn('hello'));
    assert.equal(routes.get('ns', 'hello'), undefined);
    functions.put(fn('hello'));
    assert.deepEqual(hosts('hello'), ['10.0.0.1']);
  });
});
