import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, validateFunction } from '@nimbus/api';
import { KubeApiError, type KubeClient, type KubeObject, type ResourceType } from '@nimbus/kube';
import { desiredObjects } from '../src/reconcile/desired-objects.js';
import type { DeploymentSettings } from '../src/resources/deployment.js';
import { SPEC_HASH_ANNOTATION } from '../src/resources/metadata.js';
import type { TrafficPlanner } from '../src/rollout/rollout-port.js';
import { staticTrafficPlanner } from '../src/versions/static-traffic.js';
import { type ListableCache, VersionSync, type VersionSyncResult } from '../src/versions/version-sync.js';

const settings: DeploymentSettings = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  gatewayUrl: 'http://gateway.nimbus.svc',
  runAsUser: 10001,
};
const NOW = Date.parse('2026-12-07T12:00:00Z');
const quiet = createLogger({}, 'error', () => {});

/**
 * The objects of one namespace in memory, with the few writes VersionSync makes (create, get,
 * merge patch, delete, and apply through the reconciler's callback), each one recorded.
 */
class Store {
  readonly objects = new Map<string, KubeObject>();
  readonly writes: string[] = [];
  private created = 0;

  private key = (kind: string, name: string) => `${kind}/${name}`;

  cache(kind: string): ListableCache {
    return {
      get: (_namespace, name) => this.objects.get(this.key(kind, name)),
      list: () => [...this.objects.entries()].filter(([k]) => k.startsWith(`${kind}/`)).map(([, o]) => o),
    };
  }

  private put(kind: string, object: KubeObject): KubeObject {
    const name = object.metadata.name ?? '';
    const stored: KubeObject = {
      ...object,
      metadata: {
        ...object.metadata,
        uid: `uid-${kind}-${name}`,
        creationTimestamp: `2026-12-07T12:00:0${this.created++}Z`,
      },
    };
    this.objects.set(this.key(kind, name), structuredClone(stored));
    return stored;
  }

  readonly client = {
    create: async (resource: ResourceType, object: KubeObject) => {
      this.writes.push(`create ${resource.kind}/${object.metadata.name}`);
      if (this.objects.has(this.key(resource.kind, object.metadata.name ?? '')))
        throw new KubeApiError(409, 'AlreadyExists', 'exists');
      return this.put(resource.kind, object);
    },
    get: async (resource: ResourceType, _namespace: string, name: string) => {
      const found = this.objects.get(this.key(resource.kind, name));
      if (found === undefined) throw new KubeApiError(404, 'NotFound', 'not found');
      return found;
    },
    mergePatch: async (resource: ResourceType, _namespace: string, name: string, patch: unknown) => {
      this.writes.push(`patch ${resource.kind}/${name} ${JSON.stringify(patch)}`);
      const found = this.objects.get(this.key(resource.kind, name)) as KubeObject & { spec: object };
      const replicas = (patch as { spec: { replicas: number } }).spec.replicas;
      const patched = { ...found, spec: { ...found.spec, replicas } };
      this.objects.set(this.key(resource.kind, name), patched);
      return patched;
    },
    delete: async (resource: ResourceType, _namespace: string, name: string) => {
      this.writes.push(`delete ${resource.kind}/${name}`);
      this.objects.delete(this.key(resource.kind, name));
    },
  };

  readonly apply = async (resource: ResourceType, _cache: unknown, desired: KubeObject) => {
    this.writes.push(`apply ${resource.kind}/${desired.metadata.name}`);
    return this.put(resource.kind, desired);
  };
}

function fn(code: number, spec: Record<string, unknown> = {}, status?: FunctionResource['status']) {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', uid: 'uid-1' },
    spec: { source: { inline: `export default () => ${code}` }, versions: { keep: 5 }, ...spec },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return status === undefined ? result.value : { ...result.value, status };
}

/** A world: the store, what the autoscaler answers per version, and a sync over both. */
function world(planner: TrafficPlanner = staticTrafficPlanner) {
  const store = new Store();
  const replicas = new Map<string, number>();
  const events: string[] = [];
  const sync = new VersionSync(
    store.client as unknown as KubeClient,
    {
      deployments: store.cache('Deployment'),
      services: store.cache('Service'),
      configMaps: store.cache('ConfigMap'),
    },
    { replicasFor: (_fn, version) => replicas.get(version ?? '') ?? 1 },
    planner,
    store.apply,
    'nimbus-controller',
    quiet,
    { emit: (_object, type, reason, message) => events.push(`${type} ${reason}: ${message}`) },
  );
  /** One sync, and the status that would be written (so the next sync reads it). */
  const run = async (f: FunctionResource): Promise<VersionSyncResult> =>
    sync.sync(f, desiredObjects(f, settings, 0), NOW);
  return { store, replicas, sync, run, events };
}

/** The status a sync's result leads to, enough for the next one to read. */
const statusOf = (r: VersionSyncResult): FunctionResource['status'] => ({
  latestVersion: r.latest,
  traffic: r.traffic,
  versions: r.history.versions.map((v) => ({ ...v, replicas: 0, readyReplicas: 0, percent: 0 })),
});

describe('version sync: a versioned Function’s objects', () => {
  it('creates v1’s ConfigMap, Deployment and Service, then v2 beside it without touching v1', async () => {
    const { store, run } = world();
    const first = await run(fn(1));
    assert.equal(first.latest, 'v1');
    assert.deepEqual(first.traffic, [{ version: 'v1', percent: 100 }]);
    assert.deepEqual(store.writes, [
      'apply ConfigMap/hello-v1-source',
      'create Deployment/hello-v1',
      'apply Service/hello-v1',
    ]);
    assert.equal(first.history.versions[0]?.createdAt, '2026-12-07T12:00:01Z', 'as the server stamped it');
    store.writes.length = 0;
    const second = await run(fn(2, {}, statusOf(first)));
    assert.equal(second.latest, 'v2');
    assert.deepEqual(
      second.history.versions.map((v) => v.name),
      ['v2', 'v1'],
    );
    assert.ok(
      store.writes.every((w) => !w.includes('Deployment/hello-v1')),
      `v1's Deployment untouched: ${store.writes}`,
    );
    assert.ok(store.writes.includes('create Deployment/hello-v2'));
  });

  it('changes an old version’s replicas alone, when the autoscaler asks for others', async () => {
    const { store, replicas, run } = world();
    const first = await run(fn(1));
    const second = await run(fn(2, {}, statusOf(first)));
    store.writes.length = 0;
    replicas.set('v1', 0);
    await run(fn(2, {}, statusOf(second)));
    assert.deepEqual(
      store.writes.filter((w) => w.includes('Deployment')),
      ['patch Deployment/hello-v1 {"spec":{"replicas":0}}'],
    );
  });

  it('makes a spec put back as it was the old version again, with no new Deployment', async () => {
    const { store, run } = world();
    const first = await run(fn(1));
    const second = await run(fn(2, {}, statusOf(first)));
    store.writes.length = 0;
    const back = await run(fn(1, {}, statusOf(second)));
    assert.equal(back.latest, 'v1');
    assert.ok(!store.writes.some((w) => w.startsWith('create')), `${store.writes}`);
  });

  it('prunes beyond keep, deleting the version’s three objects', async () => {
    const { store, run, events } = world();
    let status: FunctionResource['status'];
    for (const code of [1, 2, 3]) status = statusOf(await run(fn(code, {}, status)));
    store.writes.length = 0;
    const pruned = await run(fn(3, { versions: { keep: 2 } }, status));
    assert.deepEqual(
      pruned.history.versions.map((v) => v.name),
      ['v3', 'v2'],
    );
    assert.deepEqual(store.writes.filter((w) => w.startsWith('delete')).sort(), [
      'delete ConfigMap/hello-v1-source',
      'delete Deployment/hello-v1',
      'delete Service/hello-v1',
    ]);
    assert.equal(events.filter((e) => e.startsWith('Normal VersionCreated')).length, 3);
    assert.match(events.at(-1) ?? '', /^Normal VersionPruned: version v1 removed/);
  });

  it('keeps the previous traffic and asks no planner while spec.traffic names a version not kept', async () => {
    let asked = 0;
    const counting: TrafficPlanner = {
      plan: (...args) => {
        asked++;
        return staticTrafficPlanner.plan(...args);
      },
    };
    const { run } = world(counting);
    const first = await run(fn(1));
    const refused = await run(fn(1, { traffic: [{ version: 'v7', percent: 100 }] }, statusOf(first)));
    assert.equal(asked, 1);
    assert.equal(refused.trafficNotFound?.reason, 'TrafficVersionNotFound');
    assert.match(refused.trafficNotFound?.message ?? '', /v7/);
    assert.deepEqual(refused.traffic, [{ version: 'v1', percent: 100 }]);
  });

  it('takes a Deployment the cache had not seen when it runs the same revision, and refuses another', async () => {
    const { store } = world();
    const f = fn(1);
    const desired = desiredObjects(f, settings, 0);
    const revision = desired.deployment.metadata.annotations?.[SPEC_HASH_ANNOTATION];
    const hidden = (rev: string): KubeObject => ({
      metadata: { name: 'hello-v1', namespace: 'team', annotations: { [SPEC_HASH_ANNOTATION]: rev } },
    });
    // In the store but not in the cache: the cache lists nothing.
    const blind = new VersionSync(
      store.client as unknown as KubeClient,
      {
        deployments: { get: () => undefined, list: () => [] },
        services: store.cache('Service'),
        configMaps: store.cache('ConfigMap'),
      },
      { replicasFor: () => 1 },
      staticTrafficPlanner,
      store.apply,
      'nimbus-controller',
      quiet,
    );
    store.objects.set('Deployment/hello-v1', hidden(revision ?? ''));
    assert.equal((await blind.sync(f, desired, NOW)).latest, 'v1');
    store.objects.set('Deployment/hello-v1', hidden('another'));
    await assert.rejects(blind.sync(f, desired, NOW), /another revision/);
  });

  it('removes the plain objects it owns and leaves those it does not', async () => {
    const { store, sync } = world();
    const owned = {
      ownerReferences: [{ apiVersion: 'nimbus.dev/v1alpha1', kind: 'Function', name: 'hello', uid: 'uid-1' }],
    };
    store.objects.set('Deployment/hello', { metadata: { name: 'hello', namespace: 'team', ...owned } });
    store.objects.set('Service/hello', { metadata: { name: 'hello', namespace: 'team' } });
    store.objects.set('ConfigMap/hello-source', {
      metadata: { name: 'hello-source', namespace: 'team', ...owned },
    });
    await sync.removePlain(fn(1));
    assert.deepEqual(store.writes.sort(), ['delete ConfigMap/hello-source', 'delete Deployment/hello']);
  });
});
