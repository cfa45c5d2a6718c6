import assert from 'node:assert/strict';
import { type FunctionResource, functionCrd, validateFunction } from '@nimbus/api';
import { buildDeployment, buildService, buildSourceConfigMap } from '@nimbus/controller/resources/builders';
import { eventually } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';

interface Failure {
  message?: string;
}

const fn = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name },
  spec: { source: { inline: 'export default () => "hi"' }, ...spec },
});

describe('the Function CRD on a real API server', function () {
  this.timeout(45 * 60_000);
  let plane: ControlPlane;
  let namespace: string;
  let FUNCTIONS: string;

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'crd');
    FUNCTIONS = `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`;
  });

  it('serves functions under the short name fn', async () => {
    // Discovery catches up with an established CRD a moment later.
    const functions = await eventually(
      async () => {
        const list = await plane.request<{ resources?: { name: string; shortNames?: string[] }[] }>(
          'GET',
          '/apis/nimbus.dev/v1alpha1',
        );
        return list.body.resources?.find((r) => r.name === 'functions');
      },
      15_000,
      'discovery to list functions',
    );
    assert.deepEqual(functions.shortNames, ['fn']);
  });

  it('accepts a valid Function and applies the same defaults local mode does', async () => {
    const created = await plane.request<{ spec: Record<string, unknown> }>(
      'POST',
      FUNCTIONS,
      fn('hello', {}),
    );
    assert.equal(created.status, 201);
    const local = validateFunction(fn('hello', {}));
    assert.ok(local.ok);
    // The API server and local mode apply one set of defaults (the values are in api's tests).
    assert.deepEqual(created.body.spec, local.value.spec);
    assert.equal(created.body.spec.timeout, '30s', 'defaults were applied at all');
  });

  const refused: [string, string, Record<string, unknown>, RegExp][] = [
    ['min above max', 'f1', { scale: { min: 5, max: 2 } }, /spec\.scale\.min: .*min must not exceed max/],
    ['both image and source', 'f2', { image: 'x/y:1' }, /spec\.source: .*exactly one of image and source/],
    ['a malformed duration', 'f3', { timeout: 'soon' }, /spec\.timeout: .*should match/],
    ['a timeout over an hour', 'f4', { timeout: '2h' }, /spec\.timeout: .*at most 1h/],
    ['concurrency 0', 'f5', { concurrency: 0 }, /spec\.concurrency: .*greater than or equal to 1/],
    [
      'a reserved env name',
      'f6',
      { env: [{ name: 'NIMBUS_X', value: '1' }] },
      /spec\.env\[0\]\.name: .*reserved/,
    ],
    [
      'an unknown auth mode',
      'f7',
      { http: { auth: 'oauth' } },
      /spec\.http\.auth: Unsupported value: "oauth"/,
    ],
    [
      'a trigger of two kinds',
      'f8',
      { triggers: [{ nats: { subject: 'a.b' }, schedule: { cron: '* * * * *' } }] },
      /spec\.triggers\[0\]: .*exactly one of nats, schedule, postgres, s3, rabbitmq, mqtt, webhook/,
    ],
    [
      'an event-source trigger without a name',
      'f8a',
      { triggers: [{ webhook: { secret: { name: 'hook', key: 'secret' } } }] },
      /spec\.triggers\[0\]\.name: .*required for an event-source trigger/,
    ],
    [
      'two triggers of one name',
      'f8b',
      {
        triggers: [
          { name: 'in', webhook: { secret: { name: 'hook', key: 'secret' } } },
          { name: 'in', mqtt: { connection: { name: 'broker', key: 'url' }, topics: ['a/#'] } },
        ],
      },
      /spec\.triggers: .*trigger names must be unique/,
    ],
    [
      'a Postgres table that is not an identifier',
      'f8c',
      {
        triggers: [
          {
            name: 'db',
            postgres: { connection: { name: 'db', key: 'url' }, tables: ['orders; drop table x'] },
          },
        ],
      },
      /spec\.triggers\[0\]\.postgres\.tables\[0\]/,
    ],
    [
      'an empty image',
      'f9',
      { source: undefined, image: '' },
      /spec\.image: Invalid value: "": spec\.image in body should be at least 1 chars long/,
    ],
    [
      'an async backoff whose initial wait is above its max',
      'f10',
      { async: { backoff: { initial: '10m', max: '1m' } } },
      /spec\.async\.backoff\.initial: .*at most max/,
    ],
    [
      'an async retry on a success status',
      'f11',
      { async: { retryOn: [200] } },
      /spec\.async\.retryOn\[0\]: .*greater than or equal to 400/,
    ],
    [
      'a rate limit of zero calls a second',
      'f12',
      { http: { rateLimit: { requestsPerSecond: 0 } } },
      /spec\.http\.rateLimit\.requestsPerSecond: .*must be more than 0/,
    ],
    [
      'an anonymous rate limit with a burst of zero',
      'f13',
      { http: { rateLimit: { requestsPerSecond: 5, anonymous: { requestsPerSecond: 1, burst: 0 } } } },
      /spec\.http\.rateLimit\.anonymous\.burst: .*greater than or equal to 1/,
    ],
    [
      'a per-caller rate limit of zero calls a second',
      'f13p',
      { http: { rateLimit: { requestsPerSecond: 5, perCaller: { requestsPerSecond: 0 } } } },
      /spec\.http\.rateLimit\.perCaller\.requestsPerSecond: .*must be more than 0/,
    ],
    [
      'an unknown cron concurrency policy',
      'f14',
      { triggers: [{ schedule: { cron: '* * * * *', concurrencyPolicy: 'Queue' } }] },
      /spec\.triggers\[0\]\.schedule\.concurrencyPolicy: Unsupported value: "Queue"/,
    ],
    [
      'a name that is not an RFC 1035 label',
      '1abc',
      {},
      /metadata\.name must be a lower-case RFC 1035 label/,
    ],
  ];
  for (const [what, name, spec, message] of refused) {
    it(`refuses ${what}, naming the field`, async () => {
      const reply = await plane.request<Failure>('POST', FUNCTIONS, fn(name, spec));
      assert.equal(reply.status, 422, JSON.stringify(reply.body));
      assert.match(reply.body.message ?? '', message);
    });
  }

  it('stores a rate limit and a concurrency policy, and defaults the policy to Allow as local mode does', async () => {
    const spec = {
      http: { rateLimit: { requestsPerSecond: 0.5, burst: 2, anonymous: { requestsPerSecond: 0.1 } } },
      triggers: [
        { schedule: { cron: '* * * * * *', concurrencyPolicy: 'Forbid' } },
        { schedule: { cron: '0 * * * *' } },
      ],
    };
    const created = await plane.request<{ spec: Record<string, unknown> }>(
      'POST',
      FUNCTIONS,
      fn('limits', spec),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const local = validateFunction(fn('limits', spec));
    assert.ok(local.ok);
    assert.deepEqual(created.body.spec, local.value.spec);
    assert.deepEqual(
      (created.body.spec.triggers as { schedule: { concurrencyPolicy: string } }[]).map(
        (t) => t.schedule.concurrencyPolicy,
      ),
      ['Forbid', 'Allow'],
    );
  });

  it('refuses an unknown field under strict field validation, as kubectl sends it', async () => {
    const reply = await plane.request<Failure>(
      'POST',
      `${FUNCTIONS}?fieldValidation=Strict`,
      fn('typo', { timout: '5s' }),
    );
    assert.equal(reply.status, 400);
    assert.match(reply.body.message ?? '', /unknown field "spec\.timout"/);
  });

  it('builds a ConfigMap, Deployment and Service the API server accepts for a Function it stored', async () => {
    const stored = await plane.request<FunctionResource>('GET', `${FUNCTIONS}/hello`);
    assert.equal(stored.status, 200);
    const fn = stored.body;
    const settings = {
      runtimeImage: 'nimbus/runtime-node:0.1.0',
      gatewayUrl: 'http://gateway',
      runAsUser: 10001,
    };
    const objects: [string, unknown][] = [
      [`/api/v1/namespaces/${namespace}/configmaps`, buildSourceConfigMap(fn)],
      [`/apis/apps/v1/namespaces/${namespace}/deployments`, buildDeployment(fn, settings, 1, 'hash')],
      [`/api/v1/namespaces/${namespace}/services`, buildService(fn)],
    ];
    for (const [path, object] of objects) {
      // A server-side dry run: every field checked by the real API server, nothing stored.
      const reply = await plane.request<Failure>('POST', `${path}?dryRun=All&fieldValidation=Strict`, object);
      assert.equal(reply.status, 201, `${path}: ${reply.body.message}`);
    }
  });
});
