import assert from 'node:assert/strict';
import { type FunctionPod, FunctionPods } from '../src/reconcile/function-pods.js';

const pod = (name: string, fn: string | undefined, ip?: string, ready = false): FunctionPod => ({
  metadata: { name, namespace: 'apps', labels: fn === undefined ? {} : { 'nimbus.dev/function': fn } },
  status: {
    ...(ip === undefined ? {} : { podIP: ip }),
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
  },
});

describe('FunctionPods: a function’s pods from the pods informer, without a LIST', () => {
  it('indexes pods by their function, follows relabels and deletes, and ignores pods of no function', () => {
    const index = new FunctionPods();
    index.observe({ type: 'added', object: pod('a-1', 'a') });
    index.observe({ type: 'added', object: pod('a-2', 'a') });
    index.observe({ type: 'added', object: pod('b-1', 'b') });
    index.observe({ type: 'added', object: pod('pool-1', undefined) });
    assert.deepEqual(
      index.of('apps', 'a').map((p) => p.metadata.name),
      ['a-1', 'a-2'],
    );
    assert.deepEqual(index.of('other', 'a'), [], 'another namespace’s function of the same name');
    // A pool pod adopted by b: it joins b's pods.
    index.observe({ type: 'updated', object: pod('pool-1', 'b'), old: pod('pool-1', undefined) });
    assert.deepEqual(
      index.of('apps', 'b').map((p) => p.metadata.name),
      ['b-1', 'pool-1'],
    );
    // Relabelled from b to a, then deleted.
    index.observe({ type: 'updated', object: pod('pool-1', 'a'), old: pod('pool-1', 'b') });
    assert.deepEqual(
      index.of('apps', 'b').map((p) => p.metadata.name),
      ['b-1'],
    );
    index.observe({ type: 'deleted', object: pod('a-1', 'a') });
    assert.deepEqual(
      index.of('apps', 'a').map((p) => p.metadata.name),
      ['a-2', 'pool-1'],
    );
  });

  it('says a function is worth a look when a pod gets an address or its readiness changes, not on other updates', () => {
    const heard: string[] = [];
    const index = new FunctionPods((key) => heard.push(key));
    index.observe({ type: 'added', object: pod('a-1', 'a') });
    assert.deepEqual(heard, [], 'no address yet: nothing to ask');
    index.observe({ type: 'updated', object: pod('a-1', 'a', '10.0.0.5'), old: pod('a-1', 'a') });
    assert.deepEqual(heard, ['apps/a']);
    index.observe({ type: 'updated', object: pod('a-1', 'a', '10.0.0.5'), old: pod('a-1', 'a', '10.0.0.5') });
    assert.deepEqual(heard, ['apps/a'], 'an update that changes neither');
    index.observe({
      type: 'updated',
      object: pod('a-1', 'a', '10.0.0.5', true),
      old: pod('a-1', 'a', '10.0.0.5'),
    });
    assert.deepEqual(heard, ['apps/a', 'apps/a'], 'ready now');
    index.observe({ type: 'added', object: pod('b-1', 'b', '10.0.0.6') });
    assert.deepEqual(heard, ['apps/a', 'apps/a', 'apps/b'], 'seen first with an address (a relist)');
    index.observe({ type: 'deleted', object: pod('b-1', 'b', '10.0.0.6') });
    assert.equal(heard.length, 3);
  });
});
