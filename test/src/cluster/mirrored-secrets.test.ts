import assert from 'node:assert/strict';
import { MirroredTriggerSecrets } from '@nimbus/gateway/cluster/mirrored-secrets';
import { KubeClient, loadKubeConfig } from '@nimbus/kube';
import { SourceConfigError, triggerSecretMirrorName } from '@nimbus/sources';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';

describe("the cluster gateway reads source triggers' Secrets only from the controller's copies in its namespace", function () {
  this.timeout(60_000);
  let plane: ControlPlane;
  let client: KubeClient;
  let platform: string;
  let now = 1_800_000_000_000;

  before(async () => {
    plane = await sharedControlPlane();
    platform = await freshNamespace(plane, 'gateway-home');
    client = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
  });

  after(() => client?.close());

  const copy = async (namespace: string, fn: string, data: Record<string, string>) => {
    const reply = await plane.request('POST', `/api/v1/namespaces/${platform}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: triggerSecretMirrorName(namespace, fn) },
      stringData: data,
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
  };

  it("reads a key of a Function's copy, and a rotated value once its short cache has passed", async () => {
    await copy('shop', 'orders', { 'shop-db.url': 'postgres://a@db/shop' });
    const secrets = new MirroredTriggerSecrets(client, platform, () => now);
    const reader = secrets.reader('shop', 'orders');
    assert.equal(await reader.read({ name: 'shop-db', key: 'url' }), 'postgres://a@db/shop');
    const name = triggerSecretMirrorName('shop', 'orders');
    // Rotated: the controller writes the copy again.
    const removed = await plane.request('DELETE', `/api/v1/namespaces/${platform}/secrets/${name}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    await copy('shop', 'orders', { 'shop-db.url': 'postgres://b@db/shop' });
    assert.equal(await reader.read({ name: 'shop-db', key: 'url' }), 'postgres://a@db/shop', 'cached');
    now += 10_001;
    assert.equal(await reader.read({ name: 'shop-db', key: 'url' }), 'postgres://b@db/shop');
  });

  it("another Function's copy is not this one's: a key it lacks is a SourceConfigError naming the Secret", async () => {
    await copy('shop', 'billing', { 'billing-db.url': 'postgres://billing' });
    const reader = new MirroredTriggerSecrets(client, platform, () => now).reader('shop', 'orders');
    await assert.rejects(reader.read({ name: 'billing-db', key: 'url' }), (err: unknown) => {
      assert.ok(err instanceof SourceConfigError);
      assert.match(err.message, /Secret billing-db key url is not available: .*nimbus\.dev\/trigger-secret/);
      return true;
    });
    const none = new MirroredTriggerSecrets(client, platform, () => now).reader('shop', 'nobody');
    await assert.rejects(none.read({ name: 'x', key: 'y' }), SourceConfigError);
  });

  it('without its own namespace it reads nothing, and says why', async () => {
    const reader = new MirroredTriggerSecrets(client, undefined, () => now).reader('shop', 'orders');
    await assert.rejects(reader.read({ name: 'shop-db', key: 'url' }), /does not know its namespace/);
  });
});
