import assert from 'node:assert/strict';
import { type FunctionResource, VERSION_LABEL, validateFunction } from '@nimbus/api';
import { stateToken } from '@nimbus/store';
import {
  type VersionDeploymentView,
  versionPlan,
  versionSpecialisation,
} from '../src/pool/version-specialisation.js';
import { desiredObjects } from '../src/reconcile/desired-objects.js';
import type { DeploymentSettings } from '../src/resources/deployment.js';
import { ADOPTED_LABEL, FUNCTION_LABEL, POOL_LABEL } from '../src/resources/metadata.js';
import { adoptionPatch, specialisation } from '../src/resources/pool.js';
import { buildVersionObjects } from '../src/versions/versioned-objects.js';

const settings: DeploymentSettings = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  pythonRuntimeImage: 'nimbus/runtime-python:0.1.0',
  gatewayUrl: 'http://gateway.nimbus.svc',
  runAsUser: 10001,
};

function fn(spec: Record<string, unknown>): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', uid: 'uid-1' },
    spec: { versions: { keep: 3 }, scale: { min: 0 }, ...spec },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/** Version `version` of the Function `spec` describes, as version-sync creates its Deployment. */
function versionOf(spec: Record<string, unknown>, version: string, at = settings) {
  const objects = buildVersionObjects(desiredObjects(fn(spec), at, 0), version, 0);
  // What the API server gives back: plain JSON, no TypeScript types.
  const deployment = JSON.parse(JSON.stringify(objects.deployment)) as VersionDeploymentView;
  return { deployment, configMap: objects.configMap };
}

const A = { source: { inline: 'export default () => "A"' }, env: [{ name: 'GREETING', value: 'a' }] };
const B = { source: { inline: 'export default () => "B"' }, timeout: '9s', concurrency: 3 };

describe('the warm pool for a version: its specialisation from its Deployment', () => {
  it('sends an older version its own code and settings, not the spec’s', () => {
    const v1 = versionOf(A, 'v1');
    // The spec has moved on to B since v1 was made.
    const now = fn(B);
    const plan = versionPlan(now, 'v1', v1.deployment, settings);
    assert.ok(typeof plan !== 'string', String(plan));
    assert.equal(plan.runtime, 'node20');
    assert.equal(plan.source.configMap, 'hello-v1-source');
    const code = v1.configMap?.data[plan.source.key];
    assert.equal(code, A.source.inline);
    const sent = versionSpecialisation(now, plan, code ?? '', settings);
    // Exactly what a plain Function with spec A would be sent.
    assert.deepEqual(sent, specialisation(fn(A), settings));
    assert.equal(sent.env.GREETING, 'a');
    assert.equal(sent.env.NIMBUS_TIMEOUT_MS, '30000');
    for (const own of ['HOST', 'PORT', 'NIMBUS_FUNCTION_DIR', 'NIMBUS_SHUTDOWN_DELAY_MS'])
      assert.equal(sent.env[own], undefined, `${own} is the pool pod's own`);
  });

  it('sends the latest version what the spec says', () => {
    const v2 = versionOf(B, 'v2');
    const plan = versionPlan(fn(B), 'v2', v2.deployment, settings);
    assert.ok(typeof plan !== 'string', String(plan));
    const sent = versionSpecialisation(fn(B), plan, v2.configMap?.data[plan.source.key] ?? '', settings);
    assert.deepEqual(sent, specialisation(fn(B), settings));
    assert.equal(sent.env.NIMBUS_CONCURRENCY, '3');
  });

  it('makes the ctx.publish token at the call, and takes the platform’s settings as they are now', () => {
    const v1 = versionOf(A, 'v1', { ...settings, errorDetail: 'full' });
    const withTokens = { ...settings, functionTokens: { serviceUrl: 'http://gw:8081', key: 'k' } };
    // No token in the object the cluster stores.
    assert.ok(!JSON.stringify(v1.deployment).includes(stateToken('k', 'team', 'hello')));
    const plan = versionPlan(fn(B), 'v1', v1.deployment, withTokens);
    assert.ok(typeof plan !== 'string', String(plan));
    const sent = versionSpecialisation(fn(B), plan, 'code', withTokens);
    assert.equal(sent.env.NIMBUS_EVENTS_TOKEN, stateToken('k', 'team', 'hello'));
    assert.equal(sent.env.NIMBUS_EVENTS_URL, 'http://gw:8081');
    assert.equal(sent.env.NIMBUS_ERROR_DETAIL, undefined, 'error detail is off now');
  });

  it('takes a Python version to the Python pool, whatever the spec’s runtime is now', () => {
    const py = { runtime: 'python3.11', source: { inline: 'def handle(e, c):\n    return 1\n' } };
    const v1 = versionOf(py, 'v1');
    const plan = versionPlan(fn(A), 'v1', v1.deployment, settings);
    assert.ok(typeof plan !== 'string', String(plan));
    assert.equal(plan.runtime, 'python3.11');
    assert.equal(plan.source.file, 'main.py');
  });

  const refusals: [string, (d: VersionDeploymentView) => void, RegExp][] = [
    ['another version’s name', (d) => Object.assign(d.metadata, { name: 'hello-v2' }), /not version v1's/],
    ['no VERSION_LABEL', (d) => delete d.metadata.labels?.[VERSION_LABEL], /not version v1's/],
    [
      'another Function’s owner',
      (d) => Object.assign(d.metadata, { ownerReferences: [] }),
      /not version v1's/,
    ],
    [
      'an env value from a Secret',
      (d) => d.spec?.template?.spec?.containers?.[0]?.env?.push({ name: 'X', valueFrom: {} }),
      /env X comes from elsewhere/,
    ],
    [
      'an image of its own',
      (d) => Object.assign(d.spec?.template?.spec?.containers?.[0] ?? {}, { image: 'registry.example/x:1' }),
      /no pool runtime's/,
    ],
    [
      'code in another ConfigMap',
      (d) => {
        const source = d.spec?.template?.spec?.volumes?.find((v) => v.name === 'source');
        if (source?.configMap !== undefined) source.configMap.name = 'hello-v2-source';
      },
      /not the version's own/,
    ],
    [
      'a Secret mounted',
      (d) => {
        d.spec?.template?.spec?.volumes?.push({ name: 'secret-0' });
        d.spec?.template?.spec?.containers?.[0]?.volumeMounts?.push({ name: 'secret-0' });
      },
      /mounts volume secret-0/,
    ],
  ];
  for (const [what, change, reason] of refusals) {
    it(`refuses a version Deployment with ${what}`, () => {
      const { deployment } = versionOf(A, 'v1');
      change(deployment);
      const plan = versionPlan(fn(A), 'v1', deployment, settings);
      assert.equal(typeof plan, 'string');
      assert.match(String(plan), reason);
    });
  }

  const binding = (state: boolean) => ({
    state,
    serviceUrl: 'http://gw:8081',
    secretName: 'hello-state',
    credentialsRevision: 'r1',
    maxValueBytes: 1024,
  });

  it('takes a version whose pods mount ctx.publish’s token: the pool pod gets it at the call', () => {
    const objects = buildVersionObjects(desiredObjects(fn(A), settings, 0, binding(false)), 'v1', 0);
    const deployment = JSON.parse(JSON.stringify(objects.deployment)) as VersionDeploymentView;
    const withTokens = { ...settings, functionTokens: { serviceUrl: 'http://gw:8081', key: 'k' } };
    const plan = versionPlan(fn(B), 'v1', deployment, withTokens);
    assert.ok(typeof plan !== 'string', String(plan));
    const sent = versionSpecialisation(fn(B), plan, 'code', withTokens);
    assert.equal(sent.env.NIMBUS_EVENTS_TOKEN_FILE, undefined, 'the pool pod mounts no token');
    assert.deepEqual(sent.env, specialisation(fn(A), withTokens).env);
  });

  it('refuses a version with state (made when the spec had it on)', () => {
    const spec = { ...A, state: { enabled: true } };
    const objects = buildVersionObjects(desiredObjects(fn(spec), settings, 0, binding(true)), 'v1', 0);
    const deployment = JSON.parse(JSON.stringify(objects.deployment)) as VersionDeploymentView;
    assert.match(String(versionPlan(fn(A), 'v1', deployment, settings)), /it has state/);
  });

  it('the adoption patch for a version adds its label, so its Service lists the pod; a plain one’s does not', () => {
    const patch = adoptionPatch(fn(A), 'v2') as { metadata: { labels: Record<string, string | null> } };
    assert.equal(patch.metadata.labels[VERSION_LABEL], 'v2');
    assert.equal(patch.metadata.labels[FUNCTION_LABEL], 'hello');
    assert.equal(patch.metadata.labels[ADOPTED_LABEL], 'true');
    assert.equal(patch.metadata.labels[POOL_LABEL], null);
    const plain = adoptionPatch(fn(A)) as { metadata: { labels: Record<string, string | null> } };
    assert.ok(!(VERSION_LABEL in plain.metadata.labels));
  });
});
