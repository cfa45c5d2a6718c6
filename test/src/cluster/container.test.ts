import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, send } from '@nimbus/testkit';
import { CONTAINER_FIXTURES_DIR } from '../harness/fixtures.js';
import { alive } from '../harness/local-mode-process.js';
import { ScalingCluster } from '../harness/scaling-cluster.js';

/** The image stands for the fixture: the pod runner runs the pod's command, having no images. */
const SERVER = {
  runtime: 'container',
  image: 'registry.example/container-server:1',
  command: ['python3', join(CONTAINER_FIXTURES_DIR, 'container-server.py')],
};

interface PodView {
  spec: {
    containers: {
      command?: string[];
      ports: { containerPort: number }[];
      readinessProbe: Record<string, unknown>;
      livenessProbe?: unknown;
      lifecycle?: unknown;
    }[];
  };
}

/**
 * A container function on a real API server with kube-controller-manager: the controller's
 * Deployment, the pod runner running its command on the pod's address (HOST, PORT 8080), the
 * readiness probe from the spec, and the cluster gateway in front holding it to its concurrency.
 */
describe('container functions in a cluster (API server, kube-controller-manager, pod runner)', function () {
  this.timeout(180_000);
  let cluster: ScalingCluster;

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start({ NIMBUS_AUTOSCALER_INITIAL_SCALE: '0' }, 'container');
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
  });

  it('wakes from zero into a pod that runs the command with the spec’s probe, port and drain window', async () => {
    await cluster.createWithSpec('boxed', {
      ...SERVER,
      env: [
        { name: 'GREETING', value: 'hello from a pod' },
        { name: 'READY_AFTER_MS', value: '200' },
      ],
      readiness: { httpGet: { path: '/healthz' } },
      scale: { min: 0, max: 2 },
    });
    const reply = await send(cluster.gatewayBase, `/function/boxed.${cluster.namespace}/who`, {
      headers: { 'x-call-id': 'cluster-container-1' },
    });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    const me = reply.json<{
      pid: number;
      port: number;
      env: Record<string, string>;
      headers: Record<string, string>;
    }>();
    assert.equal(me.port, 8080);
    assert.equal(me.env.GREETING, 'hello from a pod');
    assert.equal(me.env.NIMBUS_FUNCTION_NAME, 'boxed');
    assert.equal(me.env.NIMBUS_FUNCTION_NAMESPACE, cluster.namespace);
    assert.equal(me.headers['x-call-id'], 'cluster-container-1');
    assert.ok(
      cluster.runner.pods().some((p) => p.pid === me.pid),
      'answered by the process the pod runner started for the pod',
    );
    const [pod] = (await cluster.pods('boxed')) as unknown as PodView[];
    const container = pod?.spec.containers[0];
    assert.deepEqual(container?.command, SERVER.command);
    assert.equal(container?.ports[0]?.containerPort, 8080);
    assert.deepEqual(container?.readinessProbe.httpGet, { path: '/healthz', port: 'http', scheme: 'HTTP' });
    assert.equal(container?.livenessProbe, undefined);
    assert.deepEqual(container?.lifecycle, { preStop: { sleep: { seconds: 3 } } });
  });

  it('holds each replica to its concurrency at the gateway: queued, then 429', async () => {
    await cluster.createWithSpec('narrow', {
      ...SERVER,
      concurrency: 1,
      scale: { min: 1, max: 1 },
      port: 9090,
      readiness: { tcpSocket: {} },
    });
    await eventually(
      () => (cluster.readyEndpoints('narrow') === 1 ? true : undefined),
      60_000,
      'narrow ready',
    );
    const path = `/function/narrow.${cluster.namespace}/slow?ms=1500`;
    const slow = [1, 2, 3].map(() => send(cluster.gatewayBase, path));
    await eventually(
      () => (cluster.routes.get(cluster.namespace, 'narrow')?.queued.size === 2 ? true : undefined),
      10_000,
      'two queued behind the one in flight',
    );
    const refused = await send(cluster.gatewayBase, path);
    assert.equal(refused.status, 429);
    assert.equal(refused.json().code, 'ReplicasBusy');
    const replies = await Promise.all(slow);
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200],
    );
    const me = (await send(cluster.gatewayBase, `/function/narrow.${cluster.namespace}/who`)).json<{
      port: number;
    }>();
    assert.equal(me.port, 9090, 'spec.port is the port it serves on, given as $PORT');
  });

  it('lets the pod finish a call in flight when it is scaled away: preStop sleep, SIGTERM, drain', async () => {
    // Longer than the deletion takes to reach the pod plus its 3 s preStop sleep: SIGTERM comes mid-call.
    const inFlight = send(cluster.gatewayBase, `/function/narrow.${cluster.namespace}/slow?ms=6000`);
    const pod = await eventually(
      () => cluster.runner.pods().find((p) => p.name.startsWith('narrow-') && p.pid !== undefined),
      10_000,
      'the pod process',
    );
    const pid = pod.pid as number;
    await eventually(
      () => ((cluster.routes.get(cluster.namespace, 'narrow')?.load.inflight ?? 0) === 1 ? true : undefined),
      10_000,
      'the slow call in flight',
    );
    const deleted = await cluster.plane.request(
      'DELETE',
      `/apis/nimbus.dev/v1alpha1/namespaces/${cluster.namespace}/functions/narrow`,
    );
    assert.equal(deleted.status, 200);
    const finished = await inFlight;
    assert.equal(finished.status, 200, finished.text);
    assert.equal(finished.json().pid, pid);
    await eventually(() => (alive(pid) ? undefined : true), 30_000, 'the process to exit');
    const log = await readFile(pod.logFile, 'utf8');
    const draining = log.indexOf('container-server draining');
    assert.ok(draining >= 0, `SIGTERM reached the program: ${log}`);
    assert.ok(log.indexOf('container-server drained') > draining, 'it drained, then exited');
  });
});
