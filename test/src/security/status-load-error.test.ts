import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { FunctionResource } from '@nimbus/api';
import { eventually, send } from '@nimbus/testkit';
import { ScalingCluster } from '../harness/scaling-cluster.js';

const FUNCTIONS = '/apis/nimbus.dev/v1alpha1/namespaces';
const ADMIN = { authorization: 'Bearer admin-key-for-the-scaling-suite' };

/** The kind of thing a load error quotes: a connection string with its password. */
const SECRET = 'postgres://app:hunter2@db.internal/prod';
const BROKEN = `throw new Error('cannot connect to ${SECRET}');
export const handle = async () => 'never';`;
const FIXED = `export const handle = async () => 'fixed';`;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface EventView {
  type: string;
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string };
}

const conditionOf = (fn: { status?: { conditions?: Condition[] } }, type: string) =>
  fn.status?.conditions?.find((c) => c.type === type);

/**
 * Attack: learn a function's load error (which may quote a connection string) as a caller, by
 * calling it through the gateway while its handler cannot load. Defended: with
 * NIMBUS_ERROR_DETAIL=none (a cluster's default) callers get a generic 503; the error reaches
 * only the pod's log, the Function's status (the controller reads `/_/ready` of one unready pod
 * and writes condition HandlerLoaded), a Warning Event, and the admin API, which shows that status.
 */
describe('security: a load error reaches the Function’s status and the admin API, never callers (issue 11, item 10)', function () {
  this.timeout(240_000);
  let cluster: ScalingCluster;

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start({ NIMBUS_ERROR_DETAIL: 'none' }, 'loaderr');
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
  });

  const path = () => `${FUNCTIONS}/${cluster.namespace}/functions/broken`;
  const readFunction = async () => (await cluster.plane.request<FunctionResource>('GET', path())).body;

  it('records the load error in condition HandlerLoaded and a Warning Event; Ready says only that it failed', async () => {
    await cluster.createFunction('broken', { source: { inline: BROKEN }, scale: { min: 1 } });
    const fn = await eventually(
      async () => {
        const current = await readFunction();
        return conditionOf(current, 'HandlerLoaded')?.status === 'False' ? current : undefined;
      },
      90_000,
      'the controller to find the load error',
    );
    const loaded = conditionOf(fn, 'HandlerLoaded');
    assert.equal(loaded?.reason, 'HandlerLoadFailed');
    assert.match(loaded?.message ?? '', /cannot connect to postgres:\/\/app:hunter2@db\.internal\/prod/);
    assert.ok((loaded?.message ?? '').length <= 1024);
    const ready = conditionOf(fn, 'Ready');
    assert.equal(ready?.status, 'False');
    assert.equal(ready?.reason, 'HandlerLoadFailed');
    // Ready's message is what the gateway gives callers while no replica is ready.
    assert.doesNotMatch(ready?.message ?? '', /hunter2|postgres/);
    assert.match(ready?.message ?? '', /failed to load/);

    const events = await eventually(
      async () => {
        const reply = await cluster.plane.request<{ items: EventView[] }>(
          'GET',
          `/api/v1/namespaces/${cluster.namespace}/events?fieldSelector=${encodeURIComponent('involvedObject.name=broken')}`,
        );
        const found = reply.body.items.filter((e) => e.reason === 'HandlerLoadFailed');
        return found.length > 0 ? found : undefined;
      },
      30_000,
      'a HandlerLoadFailed Event',
    );
    assert.equal(events[0]?.type, 'Warning');
    assert.equal(events[0]?.involvedObject.kind, 'Function');
    assert.match(events[0]?.message ?? '', /hunter2/);

    // And the pod's own log has it, as before.
    const pod = cluster.runner.pods().find((p) => p.name.startsWith('broken-'));
    assert.ok(pod !== undefined, 'the runner runs the function’s pod');
    assert.match(await readFile(pod.logFile, 'utf8'), /hunter2/);
  });

  it('answers callers through the gateway 503 at once, without the error', async () => {
    await eventually(
      () => (cluster.routes.get(cluster.namespace, 'broken')?.failure === undefined ? undefined : true),
      30_000,
      'the gateway to see the load failure in the status',
    );
    for (const query of ['', '?x=1']) {
      const started = Date.now();
      const reply = await send(cluster.gatewayBase, `/function/broken.${cluster.namespace}${query}`);
      assert.equal(reply.status, 503, reply.text);
      assert.doesNotMatch(reply.text, /hunter2|postgres|db\.internal/);
      assert.match(reply.text, /failed to load/);
      // Not held to the end of the 30 s wake timeout: no replica can become ready.
      assert.ok(Date.now() - started < 10_000, `answered in ${Date.now() - started} ms`);
    }
  });

  it('shows the status with the load error to an admin key on GET /system/functions/{name}, and to no one else', async () => {
    const url = `/system/functions/broken?namespace=${cluster.namespace}`;
    const reply = await eventually(
      async () => {
        const answer = await send(cluster.gatewayBase, url, { headers: ADMIN });
        return answer.status === 200 &&
          conditionOf(answer.json<FunctionResource>(), 'HandlerLoaded')?.status === 'False'
          ? answer
          : undefined;
      },
      30_000,
      'the admin API to show HandlerLoaded',
    );
    const fn = reply.json<FunctionResource>();
    assert.match(
      conditionOf(fn, 'HandlerLoaded')?.message ?? '',
      /cannot connect to postgres:\/\/app:hunter2/,
    );
    assert.equal(conditionOf(fn, 'Ready')?.reason, 'HandlerLoadFailed');
    const anonymous = await send(cluster.gatewayBase, url);
    assert.equal(anonymous.status, 401);
    assert.doesNotMatch(anonymous.text, /hunter2/);
  });

  it('clears once the code is fixed: Ready True, no HandlerLoaded, callers served', async () => {
    const current = await readFunction();
    const replaced = await cluster.plane.request('PUT', path(), {
      ...current,
      spec: { ...current.spec, source: { inline: FIXED } },
    });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    const fn = await eventually(
      async () => {
        const now = await readFunction();
        return conditionOf(now, 'Ready')?.status === 'True' ? now : undefined;
      },
      90_000,
      'the fixed Function to be Ready',
    );
    assert.equal(conditionOf(fn, 'Ready')?.reason, 'ReplicasReady');
    assert.equal(conditionOf(fn, 'HandlerLoaded'), undefined, 'the load error is gone from the status');
    const served = await eventually(
      async () => {
        const reply = await send(cluster.gatewayBase, `/function/broken.${cluster.namespace}`);
        return reply.status === 200 ? reply.text : undefined;
      },
      30_000,
      'the gateway to serve the fixed function',
    );
    assert.equal(served, 'fixed');
  });
});
