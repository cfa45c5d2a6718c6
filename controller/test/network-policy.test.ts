import assert from 'node:assert/strict';
import { type FunctionResource, validateFunction } from '@nimbus/api';
import { desiredObjects } from '../src/reconcile/desired-objects.js';
import { buildDeployment } from '../src/resources/deployment.js';
import {
  type FunctionIngress,
  buildFunctionNetworkPolicy,
  buildPoolNetworkPolicy,
} from '../src/resources/network-policy.js';
import { specialisation } from '../src/resources/pool.js';

const settings = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  gatewayUrl: 'http://gateway.nimbus.svc',
  runAsUser: 10001,
};

const ingress: FunctionIngress = {
  platformNamespace: 'nimbus',
  gatewayPods: { 'app.kubernetes.io/instance': 'nimbus', 'app.kubernetes.io/component': 'gateway' },
  controllerPods: { 'app.kubernetes.io/instance': 'nimbus', 'app.kubernetes.io/component': 'controller' },
};

function fn(): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', uid: 'uid-1' },
    spec: { source: { inline: 'export default () => 1' }, http: { auth: 'key' } },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

const peer = (pods: Record<string, string>) => ({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'nimbus' } },
  podSelector: { matchLabels: pods },
});

describe('buildFunctionNetworkPolicy', () => {
  const policy = buildFunctionNetworkPolicy(fn(), ingress);

  it('selects the function’s pods (its own and those it adopted from the pool) by its label', () => {
    assert.deepEqual(policy.spec.podSelector, { matchLabels: { 'nimbus.dev/function': 'hello' } });
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
  });

  it('lets in the gateway and the controller of the platform namespace, on the runtime port only', () => {
    assert.deepEqual(policy.spec.ingress, [
      {
        from: [peer({ ...ingress.gatewayPods }), peer({ ...ingress.controllerPods })],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ]);
  });

  it('is owned by the Function, like its Deployment, so deleting it deletes the policy', () => {
    assert.equal(policy.metadata.name, 'hello');
    assert.equal(policy.metadata.namespace, 'team');
    assert.deepEqual(
      policy.metadata.ownerReferences.map((o) => [o.kind, o.name, o.uid]),
      [['Function', 'hello', 'uid-1']],
    );
    assert.equal(policy.metadata.labels['app.kubernetes.io/managed-by'], 'nimbus');
  });

  it('is part of the desired objects only when the platform makes policies', () => {
    assert.deepEqual(
      desiredObjects(fn(), { ...settings, functionIngress: ingress }, 1).networkPolicy,
      policy,
    );
    assert.equal(desiredObjects(fn(), settings, 1).networkPolicy, undefined);
  });
});

describe('buildPoolNetworkPolicy', () => {
  it('lets only the controller reach a generic pool pod', () => {
    const policy = buildPoolNetworkPolicy('team', ingress, 'node20');
    assert.equal(policy.metadata.name, 'nimbus-pool-node20');
    assert.deepEqual(policy.metadata.ownerReferences, []);
    assert.deepEqual(policy.spec.podSelector, { matchLabels: { 'nimbus.dev/pool': 'node20' } });
    assert.deepEqual(policy.spec.ingress, [
      { from: [peer({ ...ingress.controllerPods })], ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);
  });

  it('gives the Python pool a policy of its own, selecting its pods alone, with the same rule', () => {
    const node = buildPoolNetworkPolicy('team', ingress, 'node20');
    const python = buildPoolNetworkPolicy('team', ingress, 'python3.11');
    assert.equal(python.metadata.name, 'nimbus-pool-python3-11');
    assert.deepEqual(python.spec.podSelector, { matchLabels: { 'nimbus.dev/pool': 'python3.11' } });
    assert.deepEqual(python.spec.ingress, node.spec.ingress);
    assert.deepEqual(python.spec.policyTypes, ['Ingress']);
  });
});

describe('NIMBUS_ERROR_DETAIL for function pods', () => {
  const envOf = (errorDetail?: 'full' | 'none') => {
    const d = buildDeployment(fn(), { ...settings, ...(errorDetail ? { errorDetail } : {}) }, 1, 'h');
    return Object.fromEntries((d.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
  };

  it('is set from the operator’s setting, and left to the runtime’s default (none) otherwise', () => {
    assert.equal(envOf('full').NIMBUS_ERROR_DETAIL, 'full');
    assert.equal(envOf('none').NIMBUS_ERROR_DETAIL, 'none');
    assert.equal(envOf().NIMBUS_ERROR_DETAIL, undefined);
  });

  it('goes to a pool pod a function takes over too, and the function’s own env cannot change it', () => {
    const withEnv = {
      ...fn(),
      spec: { ...fn().spec, env: [{ name: 'NIMBUS_ERROR_DETAIL', value: 'full' }] },
    };
    assert.equal(
      specialisation(withEnv, { ...settings, errorDetail: 'none' }).env.NIMBUS_ERROR_DETAIL,
      'none',
    );
  });
});
