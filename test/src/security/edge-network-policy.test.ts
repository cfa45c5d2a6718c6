import assert from 'node:assert/strict';
import { eventually } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { type RunningController, startController } from '../harness/controller.js';

/**
 * Item 6 of issue 11, the network's half: a function pod answered anyone who reached port 8080,
 * whatever `http.auth` said. On a real API server, the controller (with the settings the chart
 * gives it) makes each Function a NetworkPolicy that selects its pods and lets in only the
 * gateway's and the controller's, and the warm pool one that lets in only the controller. The
 * objects are asserted here; whether traffic is dropped is the CNI's job, which needs a real node
 * (`npm run test:node`), not this harness.
 */
interface Peer {
  namespaceSelector?: { matchLabels?: Record<string, string> };
  podSelector?: { matchLabels?: Record<string, string> };
}
interface Policy {
  metadata: { name: string; uid: string; ownerReferences?: { kind: string; name: string; uid: string }[] };
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes: string[];
    ingress?: { from?: Peer[]; ports?: { protocol: string; port: number }[] }[];
  };
}

const GATEWAY_PODS = {
  'app.kubernetes.io/name': 'nimbus',
  'app.kubernetes.io/instance': 'edge',
  'app.kubernetes.io/component': 'gateway',
};
const CONTROLLER_PODS = { ...GATEWAY_PODS, 'app.kubernetes.io/component': 'controller' };
const selector = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
const peer = (pods: Record<string, string>): Peer => ({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'nimbus-system' } },
  podSelector: { matchLabels: pods },
});

describe('edge: NetworkPolicies keep everyone but the platform away from function pods (issue 11, item 6)', function () {
  this.timeout(2 * 60_000);
  let plane: ControlPlane;
  let namespace: string;
  let running: RunningController;
  const policies = () => `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies`;
  const getPolicy = async (name: string) => {
    const reply = await plane.request<Policy>('GET', `${policies()}/${name}`);
    return reply.status === 200 ? reply.body : undefined;
  };

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'edge-netpol');
    running = await startController(plane, namespace, {
      NIMBUS_GATEWAY_POD_SELECTOR: selector(GATEWAY_PODS),
      NIMBUS_CONTROLLER_POD_SELECTOR: selector(CONTROLLER_PODS),
      NIMBUS_PLATFORM_NAMESPACE: 'nimbus-system',
      NIMBUS_WARM_POOL_SIZE: '1',
    });
  });

  after(async () => {
    await running?.stop();
  });

  it('gives a key-protected Function a policy, owned by it, letting in only the gateway and controller on 8080', async () => {
    const created = await plane.request<{ metadata: { uid: string } }>(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'private' },
        spec: {
          source: { inline: 'export default () => "secret"' },
          http: { auth: 'key' },
          scale: { min: 0 },
        },
      },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const policy = await eventually(() => getPolicy('private'), 20_000, 'the Function’s NetworkPolicy');
    assert.deepEqual(policy.spec.podSelector, { matchLabels: { 'nimbus.dev/function': 'private' } });
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
    assert.deepEqual(policy.spec.ingress, [
      { from: [peer(GATEWAY_PODS), peer(CONTROLLER_PODS)], ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);
    assert.deepEqual(
      policy.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
      [['Function', 'private', created.body.metadata.uid]],
    );
  });

  it('gives the namespace’s warm pool a policy that lets in the controller alone', async () => {
    const pool = await eventually(() => getPolicy('nimbus-pool-node20'), 20_000, 'the pool’s NetworkPolicy');
    assert.deepEqual(pool.spec.podSelector, { matchLabels: { 'nimbus.dev/pool': 'node20' } });
    assert.deepEqual(pool.spec.ingress, [
      { from: [peer(CONTROLLER_PODS)], ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);
  });

  it('puts the policy back when someone opens it to everyone', async () => {
    const current = await getPolicy('private');
    assert.ok(current);
    // An empty rule admits every source.
    const opened = await plane.request('PUT', `${policies()}/private`, {
      ...current,
      spec: { ...current.spec, ingress: [{}] },
    });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    await eventually(
      async () => {
        const policy = await getPolicy('private');
        return policy?.spec.ingress?.[0]?.from?.length === 2 ? policy : undefined;
      },
      20_000,
      'the controller to restore the policy',
    );
  });

  it('removes the policies it made when the platform stops making them', async () => {
    await running.stop();
    running = await startController(plane, namespace, { NIMBUS_WARM_POOL_SIZE: '1' });
    for (const name of ['private', 'nimbus-pool-node20']) {
      await eventually(
        async () => ((await getPolicy(name)) === undefined ? true : undefined),
        20_000,
        `${name}'s NetworkPolicy to go`,
      );
    }
  });
});
