import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import {
  Informer,
  type InformerEvent,
  KubeApiError,
  KubeClient,
  type KubeObject,
  RESOURCES,
  loadKubeConfig,
} from '@nimbus/kube';
import { eventually } from '@nimbus/testkit';
import { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';

const quiet = createLogger({}, 'error', () => {});

const configMap = (namespace: string, name: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});

/** The informer's events, as `type name` lines, for comparing sequences. */
function record(informer: Informer<KubeObject>): string[] {
  const seen: string[] = [];
  informer.on((e: InformerEvent<KubeObject>) => seen.push(`${e.type} ${e.object.metadata.name}`));
  return seen;
}

describe('the informer and REST client on a real API server', function () {
  this.timeout(10 * 60_000);
  let plane: ControlPlane;
  let client: KubeClient;
  let namespace: string;

  before(async () => {
    plane = await sharedControlPlane();
    client = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
    namespace = await freshNamespace(plane, 'informer');
  });

  after(() => client?.close());

  it('lists what exists, then reports additions, updates and deletions in order', async () => {
    await client.create(RESOURCES.configMaps, configMap(namespace, 'before', { a: '1' }));
    const informer = new Informer<KubeObject>(
      client,
      { resource: RESOURCES.configMaps, namespace, pageSize: 1 },
      quiet,
    );
    const seen = record(informer);
    informer.start();
    try {
      await informer.synced();
      // kube-root-ca.crt is published into every namespace by kube-controller-manager, which this
      // control plane does not run, so the namespace holds only what the test made.
      assert.deepEqual(seen, ['added before']);
      await client.create(RESOURCES.configMaps, configMap(namespace, 'later', { b: '1' }));
      await client.mergePatch(RESOURCES.configMaps, namespace, 'before', { data: { a: '2' } });
      await client.delete(RESOURCES.configMaps, namespace, 'later');
      await eventually(() => (seen.length === 4 ? true : undefined), 10_000, 'four events');
      assert.deepEqual(seen, ['added before', 'added later', 'updated before', 'deleted later']);
      assert.deepEqual(
        informer.list().map((o) => o.metadata.name),
        ['before'],
      );
      assert.equal((informer.get(namespace, 'before') as unknown as { data: { a: string } }).data.a, '2');
    } finally {
      await informer.stop();
    }
  });

  it('pages through a list larger than one page', async () => {
    const ns = await freshNamespace(plane, 'paging');
    for (let i = 0; i < 7; i++) await client.create(RESOURCES.configMaps, configMap(ns, `cm-${i}`, {}));
    const informer = new Informer<KubeObject>(
      client,
      { resource: RESOURCES.configMaps, namespace: ns, pageSize: 3 },
      quiet,
    );
    informer.start();
    try {
      await informer.synced();
      assert.equal(informer.list().length, 7);
    } finally {
      await informer.stop();
    }
  });

  it('applies server-side: a repeated apply changes nothing, and another manager keeps its fields', async () => {
    const applied = await client.apply<KubeObject>(
      RESOURCES.configMaps,
      configMap(namespace, 'applied', { owned: 'x' }),
      'nimbus-test',
    );
    const again = await client.apply<KubeObject>(
      RESOURCES.configMaps,
      configMap(namespace, 'applied', { owned: 'x' }),
      'nimbus-test',
    );
    assert.equal(
      again.metadata.resourceVersion,
      applied.metadata.resourceVersion,
      'a no-op apply writes nothing',
    );
    await client.mergePatch(RESOURCES.configMaps, namespace, 'applied', {
      data: { theirs: 'y', owned: 'edited' },
    });
    const restored = await client.apply<KubeObject & { data: Record<string, string> }>(
      RESOURCES.configMaps,
      configMap(namespace, 'applied', { owned: 'x' }),
      'nimbus-test',
    );
    assert.deepEqual(restored.data, { owned: 'x', theirs: 'y' });
  });

  it('turns a refusal into a KubeApiError with the code, reason and the field named', async () => {
    const err = await client.create(RESOURCES.configMaps, configMap(namespace, 'Not_A_Name', {})).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.code, 422);
    assert.equal(err.reason, 'Invalid');
    assert.equal(err.causes[0]?.field, 'metadata.name');
    const missing = await client.get(RESOURCES.configMaps, namespace, 'nope').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(missing instanceof KubeApiError);
    assert.equal(missing.code, 404);
  });
});

describe('the informer when the API server restarts and its history is compacted', function () {
  this.timeout(10 * 60_000);
  let plane: ControlPlane;
  let client: KubeClient;

  before(async () => {
    // A plane of its own: restarting the shared one would cut other suites' watches.
    plane = await ControlPlane.start();
    client = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
  });

  after(async () => {
    client?.close();
    await plane?.stop();
  });

  it('gets 410 Gone on resuming, lists again, and goes on reporting changes', async () => {
    const namespace = await freshNamespace(plane, 'restart');
    await client.create(RESOURCES.configMaps, configMap(namespace, 'one', {}));
    const informer = new Informer<KubeObject>(client, { resource: RESOURCES.configMaps, namespace }, quiet);
    const seen = record(informer);
    informer.start();
    try {
      await informer.synced();
      assert.equal(informer.lists, 1);
      // A write elsewhere moves etcd past the informer's resource version.
      await client.create(RESOURCES.configMaps, configMap('default', 'elsewhere', {}));
      await plane.restartApiServer(async () => {
        await plane.compactEtcd();
      });
      await eventually(() => (informer.lists === 2 ? true : undefined), 30_000, 'the informer to list again');
      await client.create(RESOURCES.configMaps, configMap(namespace, 'two', {}));
      await eventually(
        () => (seen.includes('added two') ? true : undefined),
        30_000,
        'the event after the relist',
      );
      // The relist found nothing new about 'one', so it was reported once.
      assert.deepEqual(seen, ['added one', 'added two']);
    } finally {
      await informer.stop();
    }
  });
});
