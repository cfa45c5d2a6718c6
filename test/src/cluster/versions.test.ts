import assert from 'node:assert/strict';
import { type FunctionResource, VERSION_LABEL } from '@nimbus/api';
import { type KubeObject, RESOURCES } from '@nimbus/kube';
import { eventually } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { type RunningController, startController } from '../harness/controller.js';

type Stored = FunctionResource & KubeObject;

interface Owned extends KubeObject {
  metadata: KubeObject['metadata'];
  spec?: {
    selector?: Record<string, string> | { matchLabels: Record<string, string> };
    template?: unknown;
  };
}

const code = (n: number) => `export default () => "version ${n}"`;

/**
 * A Function with spec.versions on a real API server: each change of its code is a version of its
 * own (Deployment, Service and ConfigMap `<name>-vN`), status lists them and the traffic, and
 * spec.versions.keep prunes the ones nothing needs.
 */
describe('versions of a Function on a real API server', function () {
  this.timeout(5 * 60_000);
  let plane: ControlPlane;
  let namespace: string;
  let running: RunningController;

  const path = (resource: string, name: string) =>
    resource === 'functions'
      ? `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions/${name}`
      : resource === 'deployments'
        ? `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`
        : `/api/v1/namespaces/${namespace}/${resource}/${name}`;
  const read = async <T = Owned>(resource: string, name: string): Promise<T | undefined> => {
    const reply = await plane.request<T>('GET', path(resource, name));
    return reply.status === 200 ? reply.body : undefined;
  };
  const exists = async (resource: string, name: string) => (await read(resource, name)) !== undefined;
  const patchSpec = (name: string, spec: Record<string, unknown>) =>
    running.client.mergePatch(RESOURCES.functions, namespace, name, { spec });
  /** Polls until the Function's status, read fresh, passes `check`. */
  const untilStatus = (name: string, what: string, check: (fn: Stored) => boolean) =>
    eventually(
      async () => {
        const fn = await read<Stored>('functions', name);
        return fn !== undefined && fn.status?.observedGeneration === fn.metadata.generation && check(fn)
          ? fn
          : undefined;
      },
      20_000,
      `${name}: ${what}`,
    );
  const untilGone = (resource: string, name: string) =>
    eventually(
      async () => ((await exists(resource, name)) ? undefined : true),
      20_000,
      `${resource}/${name} gone`,
    );

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'versions');
    running = await startController(plane, namespace);
  });

  after(async () => {
    await running?.stop();
  });

  it('makes v1, v2, v3 as the code changes, each with its own labelled objects, and sends every call to v3', async () => {
    const created = await plane.request<Stored>(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'greet' },
        spec: { source: { inline: code(1) }, versions: { keep: 5 } },
      },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await untilStatus('greet', 'v1 latest', (fn) => fn.status?.latestVersion === 'v1');
    const v1 = (await read('deployments', 'greet-v1')) as Owned;
    await patchSpec('greet', { source: { inline: code(2) } });
    await untilStatus('greet', 'v2 latest', (fn) => fn.status?.latestVersion === 'v2');
    await patchSpec('greet', { source: { inline: code(3) } });
    const fn = await untilStatus(
      'greet',
      'v3 latest with all traffic',
      (f) => f.status?.latestVersion === 'v3' && f.status.traffic?.[0]?.version === 'v3',
    );
    assert.deepEqual(fn.status?.traffic, [{ version: 'v3', percent: 100 }]);
    assert.deepEqual(
      fn.status?.versions?.map((v) => [v.name, v.percent]),
      [
        ['v3', 100],
        ['v2', 0],
        ['v1', 0],
      ],
    );
    const revisions = new Set(fn.status?.versions?.map((v) => v.revision));
    assert.equal(revisions.size, 3, 'each version runs its own revision');
    for (const version of ['v1', 'v2', 'v3']) {
      const name = `greet-${version}`;
      const deployment = await eventually<Owned>(() => read('deployments', name), 20_000, name);
      const service = await eventually<Owned>(() => read('services', name), 20_000, `Service ${name}`);
      const source = await eventually<Owned>(
        () => read('configmaps', `${name}-source`),
        20_000,
        `${name}-source`,
      );
      for (const object of [deployment, service, source]) {
        assert.equal(object.metadata.labels?.[VERSION_LABEL], version, `${name}: version label`);
        assert.equal(object.metadata.labels?.['nimbus.dev/function'], 'greet');
        assert.equal(object.metadata.ownerReferences?.[0]?.uid, fn.metadata.uid);
      }
      assert.deepEqual(service.spec?.selector, { 'nimbus.dev/function': 'greet', [VERSION_LABEL]: version });
    }
    assert.equal(await exists('deployments', 'greet'), false, 'no unversioned Deployment');
    assert.equal(await exists('services', 'greet'), false, 'no unversioned Service');
    const v1After = (await read('deployments', 'greet-v1')) as Owned;
    // Only its replicas may change (the autoscaler's, per version): what its pods run never does.
    assert.deepEqual(v1After.spec?.template, v1.spec?.template, 'v1 runs what it ran');
    assert.equal(
      v1After.metadata.annotations?.['nimbus.dev/spec-hash'],
      v1.metadata.annotations?.['nimbus.dev/spec-hash'],
    );
  });

  it('resolves spec.traffic, latestVersion and a tag, into status.traffic', async () => {
    await patchSpec('greet', {
      traffic: [
        { version: 'v1', percent: 90 },
        { latestVersion: true, percent: 10, tag: 'canary' },
      ],
    });
    const fn = await untilStatus('greet', 'traffic 90/10', (f) => f.status?.traffic?.length === 2);
    assert.deepEqual(fn.status?.traffic, [
      { version: 'v1', percent: 90 },
      { version: 'v3', percent: 10, tag: 'canary' },
    ]);
    const v3 = fn.status?.versions?.find((v) => v.name === 'v3');
    assert.deepEqual([v3?.percent, v3?.tags], [10, ['canary']]);
  });

  it('refuses traffic to a version not kept, keeping what status.traffic said', async () => {
    const before = (await read<Stored>('functions', 'greet'))?.status?.traffic;
    await patchSpec('greet', { traffic: [{ version: 'v9', percent: 100 }] });
    const fn = await untilStatus('greet', 'TrafficVersionNotFound', (f) =>
      (f.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.reason === 'TrafficVersionNotFound'),
    );
    const ready = fn.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'False');
    assert.match(ready?.message ?? '', /v9/);
    assert.deepEqual(fn.status?.traffic, before);
  });

  it('prunes beyond keep, but v1 only once no traffic names it', async () => {
    await patchSpec('greet', {
      versions: { keep: 2 },
      traffic: [
        { version: 'v1', percent: 90 },
        { latestVersion: true, percent: 10 },
      ],
    });
    await untilGone('deployments', 'greet-v2');
    await untilGone('services', 'greet-v2');
    await untilGone('configmaps', 'greet-v2-source');
    const fn = await untilStatus('greet', 'v1 and v3 kept', (f) => f.status?.versions?.length === 2);
    assert.deepEqual(
      fn.status?.versions?.map((v) => v.name),
      ['v3', 'v1'],
    );
    assert.equal(await exists('deployments', 'greet-v1'), true, 'v1 has traffic: kept');
    // Traffic off v1 and a new version: v4 is made (never v2 again) and v1 goes.
    await patchSpec('greet', { traffic: null, source: { inline: code(4) } });
    await untilGone('deployments', 'greet-v1');
    const after = await untilStatus('greet', 'v4 and v3 kept', (f) => f.status?.latestVersion === 'v4');
    assert.deepEqual(
      after.status?.versions?.map((v) => v.name),
      ['v4', 'v3'],
    );
    assert.deepEqual(after.status?.traffic, [{ version: 'v4', percent: 100 }]);
  });

  it('leaves a Function without spec.versions as it was: objects named like it, no versions in status', async () => {
    const created = await plane.request(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'plain' },
        spec: { source: { inline: code(1) } },
      },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const deployment = await eventually<Owned>(
      () => read('deployments', 'plain'),
      20_000,
      'Deployment plain',
    );
    assert.equal(deployment.metadata.labels?.[VERSION_LABEL], undefined);
    const fn = await untilStatus('plain', 'status written', (f) => f.status?.conditions !== undefined);
    assert.equal(fn.status?.latestVersion, undefined);
    assert.equal(fn.status?.traffic, undefined);
    assert.equal(await exists('deployments', 'plain-v1'), false);
  });

  it('replaces the plain objects with v1 when versions are turned on, and back when turned off', async () => {
    const created = await plane.request(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'shift' },
        spec: { source: { inline: code(1) } },
      },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await eventually<Owned>(() => read('deployments', 'shift'), 20_000, 'Deployment shift');
    await patchSpec('shift', { versions: { keep: 2 } });
    await untilStatus('shift', 'v1 latest', (f) => f.status?.latestVersion === 'v1');
    await untilGone('deployments', 'shift');
    await untilGone('services', 'shift');
    await untilGone('configmaps', 'shift-source');
    assert.equal(await exists('deployments', 'shift-v1'), true);
    await patchSpec('shift', { versions: null });
    await untilGone('deployments', 'shift-v1');
    await untilGone('services', 'shift-v1');
    await eventually<Owned>(() => read('deployments', 'shift'), 20_000, 'Deployment shift again');
    const fn = await untilStatus('shift', 'no versions', (f) => f.status?.latestVersion === undefined);
    assert.equal(fn.status?.traffic, undefined);
  });

  it('refuses a versioned Function whose name leaves no room for versions, naming metadata.name', async () => {
    const name = `n${'a'.repeat(52)}`;
    const created = await plane.request(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name },
        spec: { source: { inline: code(1) }, versions: { keep: 5 } },
      },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const fn = await untilStatus(name, 'NameTooLongForVersions', (f) =>
      (f.status?.conditions ?? []).some(
        (c) => c.type === 'Deployed' && c.reason === 'NameTooLongForVersions',
      ),
    );
    const deployed = fn.status?.conditions?.find((c) => c.type === 'Deployed');
    assert.match(deployed?.message ?? '', /metadata\.name/);
    assert.equal(await exists('deployments', `${name}-v1`), false);
  });
  const createFn = async (name: string, spec: Record<string, unknown>) => {
    const created = await plane.request(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name },
        spec: { source: { inline: code(1) }, ...spec },
      },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
  };
  const ownerOf = async (resource: string, name: string) =>
    (await read(resource, name))?.metadata.ownerReferences?.[0]?.name;
  const nameTaken = (name: string) =>
    untilStatus(name, 'NameTaken', (f) =>
      (f.status?.conditions ?? []).some((c) => c.type === 'Deployed' && c.reason === 'NameTaken'),
    );

  it('refuses a Function named like another one’s version, and leaves that version’s objects alone', async () => {
    await createFn('clash', { versions: { keep: 5 } });
    await untilStatus('clash', 'v1', (f) => f.status?.latestVersion === 'v1');
    await eventually(() => read('deployments', 'clash-v1'), 20_000, 'clash-v1');
    await createFn('clash-v1', {});
    const refused = await nameTaken('clash-v1');
    const message = refused.status?.conditions?.find((c) => c.type === 'Deployed')?.message ?? '';
    assert.match(message, /belongs to Function clash\b/);
    for (const resource of ['deployments', 'services'])
      assert.equal(await ownerOf(resource, 'clash-v1'), 'clash', `${resource}/clash-v1 is still clash's v1`);
  });

  it('refuses a versioned Function whose version would take another Function’s objects', async () => {
    await createFn('taken-v1', {});
    await eventually(() => read('deployments', 'taken-v1'), 20_000, 'taken-v1');
    await createFn('taken', { versions: { keep: 5 } });
    const refused = await nameTaken('taken');
    assert.match(refused.status?.conditions?.find((c) => c.type === 'Deployed')?.message ?? '', /taken-v1/);
    assert.equal(await ownerOf('deployments', 'taken-v1'), 'taken-v1');
    const labels = (await read('deployments', 'taken-v1'))?.metadata.labels ?? {};
    assert.equal(labels['nimbus.dev/version'], undefined, 'not made a version of taken');
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ['traffic without versions', { traffic: [{ latestVersion: true, percent: 100 }] }, /needs spec.versions/],
    [
      'traffic that adds up to 110',
      {
        versions: { keep: 5 },
        traffic: [
          { version: 'v1', percent: 90 },
          { latestVersion: true, percent: 20 },
        ],
      },
      /percents must add up to 100/,
    ],
    [
      'one tag twice',
      {
        versions: { keep: 5 },
        traffic: [
          { version: 'v1', percent: 50, tag: 'blue' },
          { version: 'v2', percent: 50, tag: 'blue' },
        ],
      },
      /tags must be unique/,
    ],
    [
      'an entry with a version and latestVersion',
      { versions: { keep: 5 }, traffic: [{ version: 'v1', latestVersion: true, percent: 100 }] },
      /exactly one of version and latestVersion/,
    ],
    [
      'rollout steps that fall',
      { versions: { keep: 5 }, rollout: { steps: [{ percent: 50 }, { percent: 10 }] } },
      /percents must rise/,
    ],
    [
      'a pause over a day',
      { versions: { keep: 5 }, rollout: { steps: [{ percent: 5, pause: '25h' }] } },
      /24h/,
    ],
  ];
  for (const [what, spec, message] of refused) {
    it(`the API server refuses ${what}, by the CRD's own rules`, async () => {
      const reply = await plane.request<{ message?: string }>(
        'POST',
        `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
        {
          apiVersion: 'nimbus.dev/v1alpha1',
          kind: 'Function',
          metadata: { name: 'refused' },
          spec: { source: { inline: code(1) }, ...spec },
        },
      );
      assert.equal(reply.status, 422, JSON.stringify(reply.body));
      assert.match(reply.body.message ?? '', message);
    });
  }
});
