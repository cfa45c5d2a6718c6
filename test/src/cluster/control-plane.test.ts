import assert from 'node:assert/strict';
import { KUBERNETES_VERSION } from '../harness/control-plane/assets.js';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { sharedControlPlane } from '../harness/control-plane/shared.js';

interface Status {
  status?: { token?: string };
  items?: unknown[];
  reason?: string;
}

describe('the test control plane (real etcd and kube-apiserver)', function () {
  // The first run on a machine builds the binaries with Go; later runs start in seconds.
  this.timeout(45 * 60_000);
  let plane: ControlPlane;

  before(async () => {
    plane = await sharedControlPlane();
  });

  it(`serves Kubernetes ${KUBERNETES_VERSION}`, async () => {
    const { status, body } = await plane.request<{ gitVersion: string }>('GET', '/version');
    assert.equal(status, 200);
    assert.equal(body.gitVersion, KUBERNETES_VERSION);
  });

  it('authorizes with RBAC: anonymous requests are refused', async () => {
    const { status } = await plane.request('GET', '/api/v1/namespaces', undefined, null);
    assert.equal(status, 403);
    const wrong = await plane.request('GET', '/api/v1/namespaces', undefined, 'not-a-token');
    assert.equal(wrong.status, 401);
  });

  it('signs service-account tokens that authenticate, and RBAC then decides', async () => {
    const ns = `probe-${Date.now().toString(36)}`;
    assert.equal((await plane.request('POST', '/api/v1/namespaces', { metadata: { name: ns } })).status, 201);
    const sa = await plane.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
      metadata: { name: 'probe' },
    });
    assert.equal(sa.status, 201);
    const issued = await plane.request<Status>(
      'POST',
      `/api/v1/namespaces/${ns}/serviceaccounts/probe/token`,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 600 },
      },
    );
    assert.equal(issued.status, 201);
    const token = issued.body.status?.token as string;
    // Known (not 401) but not allowed (403): the key pair and RBAC both work.
    assert.equal((await plane.request('GET', '/api/v1/namespaces', undefined, token)).status, 403);
  });

  it('writes a kubeconfig that names the server, its CA and the admin token', async () => {
    const config = plane.kubeconfig() as { clusters: { cluster: { server: string } }[] };
    assert.equal(config.clusters[0]?.cluster.server, plane.url);
  });
});
