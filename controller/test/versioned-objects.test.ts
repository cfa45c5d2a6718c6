import assert from 'node:assert/strict';
import { type FunctionResource, VERSION_LABEL, validateFunction } from '@nimbus/api';
import type { KubeObject } from '@nimbus/kube';
import { NotDeployableError, desiredObjects } from '../src/reconcile/desired-objects.js';
import type { ObservedDeployment } from '../src/reconcile/status.js';
import type { DeploymentSettings } from '../src/resources/deployment.js';
import { FUNCTION_LABEL, SPEC_HASH_ANNOTATION } from '../src/resources/metadata.js';
import { observeRevision, pruneVersions } from '../src/versions/version-history.js';
import {
  buildVersionObjects,
  checkVersionedName,
  historyOf,
  neededVersions,
  replicaSums,
  revisionOf,
  versionDeploymentsOf,
  versionStatuses,
  versionedReadiness,
} from '../src/versions/versioned-objects.js';

const settings: DeploymentSettings = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  gatewayUrl: 'http://gateway.nimbus.svc',
  runAsUser: 10001,
};

function fn(
  code = 'export default () => 1',
  status?: FunctionResource['status'],
  name = 'hello',
): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'team', uid: 'uid-1' },
    spec: { source: { inline: code }, versions: { keep: 3 } },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return status === undefined ? result.value : { ...result.value, status };
}

/** A version Deployment as the cache would hold it. */
function versionDeployment(
  version: string,
  revision: string,
  more: { name?: string; namespace?: string; function?: string; uid?: string; created?: string } = {},
): KubeObject {
  return {
    metadata: {
      name: more.name ?? `hello-${version}`,
      namespace: more.namespace ?? 'team',
      labels: { [FUNCTION_LABEL]: more.function ?? 'hello', [VERSION_LABEL]: version },
      annotations: { [SPEC_HASH_ANNOTATION]: revision },
      ownerReferences: [
        { apiVersion: 'nimbus.dev/v1alpha1', kind: 'Function', name: 'hello', uid: more.uid ?? 'uid-1' },
      ],
      creationTimestamp: more.created ?? '2026-12-07T10:00:00Z',
    },
  };
}

function observed(
  spec: number,
  ready: number,
  extra: Partial<ObservedDeployment['status']> = {},
): ObservedDeployment {
  return {
    metadata: { generation: 1 },
    spec: { replicas: spec },
    status: {
      observedGeneration: 1,
      replicas: spec,
      updatedReplicas: spec,
      readyReplicas: ready,
      availableReplicas: ready,
      ...extra,
    },
  };
}

describe('versioned objects: a version’s ConfigMap, Deployment and Service', () => {
  it('names, labels and selects by the version, the revision being the unversioned hash', () => {
    const desired = desiredObjects(fn(), settings, 0);
    const revision = revisionOf(desired);
    const v2 = buildVersionObjects(desired, 'v2', 3);
    assert.equal(v2.deployment.metadata.name, 'hello-v2');
    assert.equal(v2.service.metadata.name, 'hello-v2');
    assert.equal(v2.configMap?.metadata.name, 'hello-v2-source');
    assert.equal(v2.configMap?.immutable, true);
    for (const labels of [
      v2.deployment.metadata.labels,
      v2.deployment.spec.template.metadata.labels,
      v2.service.metadata.labels,
      v2.configMap?.metadata.labels ?? {},
    ]) {
      assert.equal(labels[VERSION_LABEL], 'v2');
      assert.equal(labels[FUNCTION_LABEL], 'hello', 'the NetworkPolicy selects every version by this label');
    }
    const selector = { [FUNCTION_LABEL]: 'hello', [VERSION_LABEL]: 'v2' };
    assert.deepEqual(v2.deployment.spec.selector.matchLabels, selector);
    assert.deepEqual(v2.service.spec.selector, selector);
    assert.equal(v2.deployment.spec.replicas, 3);
    assert.equal(v2.deployment.metadata.annotations?.[SPEC_HASH_ANNOTATION], revision);
    assert.equal(v2.deployment.spec.template.metadata.annotations[SPEC_HASH_ANNOTATION], revision);
    const source = v2.deployment.spec.template.spec.volumes.find((v) => v.name === 'source');
    assert.equal(source?.configMap?.name, 'hello-v2-source');
    assert.deepEqual(v2.configMap?.data, desired.configMap?.data);
    assert.equal(v2.deployment.metadata.ownerReferences[0]?.uid, 'uid-1');
  });

  it('leaves every version’s pods selected by the Function’s NetworkPolicy', () => {
    const ingress = {
      platformNamespace: 'nimbus',
      gatewayPods: { app: 'gateway' },
      controllerPods: { app: 'controller' },
    };
    const desired = desiredObjects(fn(), { ...settings, functionIngress: ingress }, 0);
    const selector = desired.networkPolicy?.spec.podSelector.matchLabels ?? {};
    assert.notDeepEqual(selector, {});
    for (const version of ['v1', 'v2']) {
      const labels = buildVersionObjects(desired, version, 1).deployment.spec.template.metadata.labels;
      for (const [key, value] of Object.entries(selector))
        assert.equal(labels[key], value, `${version}: ${key}`);
    }
  });

  it('gives the same revision whatever the replicas, and another for other code', () => {
    const a = revisionOf(desiredObjects(fn(), settings, 0));
    assert.equal(revisionOf(desiredObjects(fn(), settings, 4)), a);
    assert.notEqual(revisionOf(desiredObjects(fn('export default () => 2'), settings, 0)), a);
  });

  it('refuses a name longer than 52 characters, naming metadata.name', () => {
    checkVersionedName(fn(undefined, undefined, 'a'.repeat(52)));
    assert.throws(
      () => checkVersionedName(fn(undefined, undefined, 'b'.repeat(53))),
      (err: unknown) =>
        err instanceof NotDeployableError &&
        err.reason === 'NameTooLongForVersions' &&
        err.message.includes('metadata.name') &&
        err.message.includes('b'.repeat(53)),
    );
  });
});

describe('versioned objects: history from the cluster', () => {
  it('finds only the Function’s own version Deployments', () => {
    const found = versionDeploymentsOf(fn(), [
      versionDeployment('v1', 'aaa'),
      versionDeployment('v2', 'bbb', { function: 'other', name: 'other-v2' }),
      versionDeployment('v3', 'ccc', { namespace: 'elsewhere' }),
      versionDeployment('v4', 'ddd', { uid: 'someone-else' }),
      versionDeployment('v05', 'eee', { name: 'hello-v05' }),
      { metadata: { name: 'hello', namespace: 'team', labels: { [FUNCTION_LABEL]: 'hello' } } },
    ]);
    assert.deepEqual([...found.keys()], ['v1']);
  });

  it('takes revisions and times from Deployments, and versions not yet cached from status', () => {
    const status = {
      latestVersion: 'v3',
      versions: [
        {
          name: 'v3',
          revision: 'ccc',
          createdAt: '2026-12-07T11:00:00Z',
          replicas: 1,
          readyReplicas: 1,
          percent: 100,
        },
      ],
    };
    const found = versionDeploymentsOf(fn(), [
      versionDeployment('v1', 'aaa', { created: '2026-12-07T09:00:00Z' }),
    ]);
    const history = historyOf(fn(undefined, status), found);
    assert.equal(history.latest, 'v3');
    assert.deepEqual(
      history.versions.map((v) => [v.name, v.revision, v.createdAt]),
      [
        ['v3', 'ccc', '2026-12-07T11:00:00Z'],
        ['v1', 'aaa', '2026-12-07T09:00:00Z'],
      ],
    );
    // A revision one of them runs is that version; a new one is numbered after every one seen.
    assert.equal(observeRevision(history, 'aaa', 'now').latest, 'v1');
    assert.equal(observeRevision(history, 'zzz', 'now').latest, 'v4');
  });

  it('starts at v1 with nothing seen', () => {
    const history = observeRevision(historyOf(fn(), new Map()), 'aaa', '2026-12-07T12:00:00Z');
    assert.deepEqual(history.versions, [
      { name: 'v1', number: 1, revision: 'aaa', createdAt: '2026-12-07T12:00:00Z' },
    ]);
  });

  it('prunes beyond keep, never one with traffic, the latest or the highest number', () => {
    const found = versionDeploymentsOf(
      fn(),
      ['v1', 'v2', 'v3', 'v4'].map((v) => versionDeployment(v, `rev-${v}`)),
    );
    // The spec went back to v2's revision: v2 is the latest again, v4 stays the highest.
    const history = observeRevision(historyOf(fn(), found), 'rev-v2', 'now');
    assert.equal(history.latest, 'v2');
    const traffic = [
      { version: 'v1', percent: 90 },
      { version: 'v2', percent: 10, tag: 'canary' },
    ];
    const { history: kept, removed } = pruneVersions(history, 2, neededVersions(history, traffic));
    assert.deepEqual(
      kept.versions.map((v) => v.name),
      ['v4', 'v2', 'v1'],
    );
    assert.deepEqual(
      removed.map((v) => v.name),
      ['v3'],
    );
  });

  it('keeps a rollout’s stable and candidate until it succeeds', () => {
    const found = versionDeploymentsOf(
      fn(),
      ['v1', 'v2', 'v3'].map((v) => versionDeployment(v, `rev-${v}`)),
    );
    const history = historyOf(fn(undefined, { latestVersion: 'v3' }), found);
    const needed = neededVersions(history, [{ version: 'v3', percent: 100 }], {
      stable: 'v1',
      candidate: 'v3',
    });
    const { removed } = pruneVersions(history, 1, needed);
    assert.deepEqual(
      removed.map((v) => v.name),
      ['v2'],
    );
    const done = { phase: 'Succeeded', stable: 'v1', candidate: 'v3' };
    const after = pruneVersions(history, 1, neededVersions(history, [{ version: 'v3', percent: 100 }], done));
    assert.deepEqual(
      after.removed.map((v) => v.name),
      ['v2', 'v1'],
      'a rollout that succeeded holds nothing back',
    );
  });
});

describe('versioned objects: status', () => {
  it('lists each kept version with its replicas, share and tags, and sums the replicas', () => {
    const history = {
      latest: 'v2',
      versions: [
        { name: 'v2', number: 2, revision: 'bbb', createdAt: 't2' },
        { name: 'v1', number: 1, revision: 'aaa', createdAt: 't1' },
      ],
    };
    const deployments = new Map([
      ['v2', observed(2, 1)],
      ['v1', observed(3, 3)],
    ]);
    const versions = versionStatuses(history, deployments, [
      { version: 'v1', percent: 90 },
      { version: 'v2', percent: 10, tag: 'canary' },
    ]);
    assert.deepEqual(versions, [
      {
        name: 'v2',
        revision: 'bbb',
        createdAt: 't2',
        replicas: 2,
        readyReplicas: 1,
        percent: 10,
        tags: ['canary'],
      },
      { name: 'v1', revision: 'aaa', createdAt: 't1', replicas: 3, readyReplicas: 3, percent: 90 },
    ]);
    assert.deepEqual(replicaSums(versions), { replicas: 5, readyReplicas: 4 });
  });

  it('is Ready when every version with a share is ready or at zero; one reached by tag only does not count', () => {
    const ok = { ok: true } as const;
    const deployments = new Map([
      ['v1', observed(2, 2)],
      ['v2', observed(0, 0)],
      ['v3', observed(1, 0)],
    ]);
    const ready = versionedReadiness(
      ok,
      [
        { version: 'v1', percent: 50 },
        { version: 'v2', percent: 50 },
        { version: 'v3', percent: 0, tag: 'next' },
      ],
      deployments,
    );
    assert.equal(ready.status, 'True', JSON.stringify(ready));
    const notReady = versionedReadiness(
      ok,
      [
        { version: 'v1', percent: 50 },
        { version: 'v3', percent: 50 },
      ],
      deployments,
    );
    assert.equal(notReady.status, 'False');
    assert.equal(notReady.reason, 'NoReadyReplicas');
    assert.match(notReady.message, /^version v3: /);
    const missing = versionedReadiness(ok, [{ version: 'v9', percent: 100 }], deployments);
    assert.equal(missing.status, 'False');
    assert.equal(missing.reason, 'Deploying');
    const refused = versionedReadiness(
      { ok: false, reason: 'NameTooLongForVersions', message: 'x' },
      [],
      deployments,
    );
    assert.equal(refused.reason, 'NameTooLongForVersions');
  });
});
