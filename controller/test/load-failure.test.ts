import assert from 'node:assert/strict';
import { type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FunctionResource, createLogger } from '@nimbus/api';
import type { PodsOfFunction } from '../src/reconcile/function-pods.js';
import {
  GENERIC_LOAD_FAILURE,
  LOAD_FAILED,
  LoadFailures,
  MESSAGE_LIMIT,
  type PodView,
  hasUnreadyReplicas,
  loadErrorOf,
  podToAsk,
  readReady,
  readyForLoadFailure,
} from '../src/reconcile/load-failure.js';
import type { ObservedDeployment } from '../src/reconcile/status.js';

const deployment = (
  replicas: number,
  status: NonNullable<ObservedDeployment['status']>,
): ObservedDeployment => ({
  metadata: { generation: 1 },
  spec: { replicas },
  status: { observedGeneration: 1, ...status },
});

describe('hasUnreadyReplicas', () => {
  const cases: [string, ObservedDeployment | undefined, boolean][] = [
    ['no Deployment', undefined, false],
    ['scaled to zero', deployment(0, { replicas: 1, readyReplicas: 0 }), false],
    ['every replica ready', deployment(2, { replicas: 2, readyReplicas: 2 }), false],
    ['one of two ready', deployment(2, { replicas: 2, readyReplicas: 1 }), true],
    ['none ready, no status yet', deployment(1, {}), true],
    ['a surge pod of a new revision not ready', deployment(1, { replicas: 2, readyReplicas: 1 }), true],
  ];
  for (const [name, d, want] of cases)
    it(`${want ? 'yes' : 'no'}: ${name}`, () => assert.equal(hasUnreadyReplicas(d), want));
});

describe('podToAsk', () => {
  const pod = (
    name: string,
    created: string,
    opts: { ready?: boolean; ip?: string | null; hash?: string; deleting?: boolean; adopted?: boolean } = {},
  ): PodView => ({
    metadata: {
      name,
      creationTimestamp: created,
      annotations: { 'nimbus.dev/spec-hash': opts.hash ?? 'new' },
      ...(opts.adopted ? { labels: { 'nimbus.dev/adopted': 'true' } } : {}),
      ...(opts.deleting ? { deletionTimestamp: created } : {}),
    },
    status: {
      ...(opts.ip === null ? {} : { podIP: opts.ip ?? '10.244.0.1' }),
      conditions: [{ type: 'Ready', status: opts.ready ? 'True' : 'False' }],
    },
  });

  it('asks the oldest unready pod of the current revision that has an address', () => {
    const pods = [
      pod('ready', '2026-01-01T00:00:00Z', { ready: true }),
      pod('old-revision', '2026-01-01T00:00:01Z', { hash: 'old' }),
      pod('no-ip', '2026-01-01T00:00:02Z', { ip: null }),
      pod('deleting', '2026-01-01T00:00:03Z', { deleting: true }),
      pod('adopted', '2026-01-01T00:00:04Z', { adopted: true }),
      pod('younger', '2026-01-01T00:00:09Z'),
      pod('older', '2026-01-01T00:00:05Z'),
    ];
    assert.equal(podToAsk(pods, 'new')?.metadata.name, 'older');
  });

  it('asks none when every pod is ready, going or of another revision', () => {
    assert.equal(
      podToAsk(
        [pod('a', 'x', { ready: true }), pod('b', 'x', { hash: 'old' }), pod('c', 'x', { deleting: true })],
        'new',
      ),
      undefined,
    );
  });
});

describe('loadErrorOf', () => {
  const failed = (reason: unknown) => ({ status: 503, body: JSON.stringify({ status: 'failed', reason }) });
  it('quotes the reason of a failed load', () =>
    assert.equal(loadErrorOf(failed('handler failed to load: boom')), 'handler failed to load: boom'));
  it('puts a multi-line reason on one line, without control characters', () =>
    assert.equal(loadErrorOf(failed('SyntaxError:\n  at x\u001b[31m red')), 'SyntaxError: at x [31m red'));
  it(`cuts a long reason to ${MESSAGE_LIMIT} characters`, () => {
    const message = loadErrorOf(failed('x'.repeat(100_000))) ?? '';
    assert.equal(message.length, MESSAGE_LIMIT);
    assert.ok(message.endsWith('…'));
  });
  const others: [string, { status: number; body: string }][] = [
    ['ready', { status: 200, body: '{"status":"ready"}' }],
    ['loading', { status: 503, body: '{"status":"loading"}' }],
    ['draining', { status: 503, body: '{"status":"draining"}' }],
    ['not JSON', { status: 503, body: '<html>' }],
    ['JSON null', { status: 503, body: 'null' }],
    ['a reason that is not text', failed({ toString: 1 })],
    ['an empty reason', failed(' \n ')],
    ['failed, but not a 503', { status: 200, body: '{"status":"failed","reason":"x"}' }],
  ];
  for (const [name, answer] of others)
    it(`finds nothing in ${name}`, () => assert.equal(loadErrorOf(answer), undefined));
});

describe('readyForLoadFailure', () => {
  const failure = { status: 'False' as const, reason: LOAD_FAILED, message: 'password=hunter2 in the URL' };
  it('keeps the error out of Ready (which callers read) unless the operator chose full detail', () => {
    for (const detail of [undefined, 'none' as const])
      assert.deepEqual(readyForLoadFailure(failure, detail), {
        status: 'False',
        reason: LOAD_FAILED,
        message: GENERIC_LOAD_FAILURE,
      });
    assert.equal(readyForLoadFailure(failure, 'full').message, failure.message);
  });
});

describe('LoadFailures.check', () => {
  const fn = { metadata: { name: 'broken', namespace: 'apps' } } as FunctionResource;
  const unready = deployment(1, { replicas: 1, readyReplicas: 0 });
  const withPods = (items: PodView[]): PodsOfFunction => ({ of: () => items });
  const quiet = createLogger({}, 'error', () => {});
  const failed = async () => ({ status: 503, body: '{"status":"failed","reason":"cannot load"}' });
  const podWithout = (ip: boolean): PodView => ({
    metadata: { name: 'p', creationTimestamp: '2026-01-01T00:00:00Z' },
    status: { ...(ip ? { podIP: '10.244.0.9' } : {}), conditions: [] },
  });

  it('schedules no look while no pod has an address yet: the pods index brings the function back', async () => {
    const loads = new LoadFailures(withPods([podWithout(false)]), quiet, failed);
    for (let i = 0; i < 3; i++) assert.deepEqual(await loads.check(fn, unready), {});
    const none = new LoadFailures(withPods([]), quiet, failed);
    assert.deepEqual(await none.check(fn, unready), {});
  });

  it('looks again later, backing off, while a pod with an address is still loading', async () => {
    const loading = async () => ({ status: 503, body: '{"status":"loading"}' });
    const loads = new LoadFailures(withPods([podWithout(true)]), quiet, loading);
    const waits = [];
    for (let i = 0; i < 3; i++) waits.push((await loads.check(fn, unready)).requeueAfterMs);
    assert.deepEqual(waits, [1000, 2000, 4000]);
  });

  it('finds the failure once the pod has an address, and starts the backoff over', async () => {
    const pods: PodView[] = [podWithout(false)];
    let answer = async () => ({ status: 503, body: '{"status":"loading"}' });
    const loads = new LoadFailures(withPods(pods), quiet, () => answer());
    assert.deepEqual(await loads.check(fn, unready), {});
    pods[0] = podWithout(true);
    assert.equal((await loads.check(fn, unready)).requeueAfterMs, 1000);
    assert.equal((await loads.check(fn, unready)).requeueAfterMs, 2000);
    answer = failed;
    const found = await loads.check(fn, unready);
    assert.deepEqual(found.failure, { status: 'False', reason: LOAD_FAILED, message: 'cannot load' });
    answer = async () => ({ status: 503, body: '{"status":"loading"}' });
    assert.equal((await loads.check(fn, unready)).requeueAfterMs, 1000, 'the backoff starts over');
  });

  it('asks nothing and forgets the backoff when every replica is ready', async () => {
    const loads = new LoadFailures(withPods([podWithout(true)]), quiet, async () => ({
      status: 503,
      body: '{}',
    }));
    await loads.check(fn, unready);
    assert.deepEqual(await loads.check(fn, deployment(1, { replicas: 1, readyReplicas: 1 })), {});
    assert.equal((await loads.check(fn, unready)).requeueAfterMs, 1000);
  });
});

describe('readReady', () => {
  let server: Server;
  let port: number;
  let answer: (res: ServerResponse) => void;
  before(async () => {
    server = createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reads the answer', async () => {
    answer = (res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"loading"}');
    assert.deepEqual(await readReady('127.0.0.1', port), { status: 503, body: '{"status":"loading"}' });
  });

  it('gives up on an answer larger than it reads', async () => {
    answer = (res) => {
      res.writeHead(503);
      res.write('x'.repeat(64 * 1024));
    };
    await assert.rejects(readReady('127.0.0.1', port), /answered more than 16384 bytes/);
  });

  it('gives up on a pod that does not answer in time', async function () {
    this.timeout(10_000);
    answer = () => {};
    const started = Date.now();
    await assert.rejects(readReady('127.0.0.1', port), /no answer within 2000 ms/);
    assert.ok(Date.now() - started < 5000);
  });
});
