import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import type { KubeClient } from '@nimbus/kube';
import { KubeApiError } from '@nimbus/kube/errors';
import { ManualClock, settle } from '@nimbus/testkit';
import { TriggerSecretWatch } from '../src/sources/trigger-secret-watch.js';

const quiet = createLogger({}, 'error', () => {});

/** Secrets' metadata by `namespace/name`: a version, absent (404), or 'away' (the API server fails). */
function secretsMeta(versions: Map<string, string | 'away'>) {
  const asked: string[] = [];
  const client: Pick<KubeClient, 'getMetadata'> = {
    getMetadata: async (_resource, namespace, name) => {
      const id = `${namespace}/${name}`;
      asked.push(id);
      const version = versions.get(id);
      if (version === 'away') throw new Error('connect ECONNREFUSED');
      if (version === undefined) throw new KubeApiError(404, 'NotFound', `secrets "${name}" not found`);
      return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, resourceVersion: version } };
    },
  };
  return { client, asked };
}

describe('TriggerSecretWatch: a rotated Secret of a source trigger has its Function reconciled again', () => {
  let versions: Map<string, string | 'away'>;
  let requeued: string[];
  let watch: TriggerSecretWatch;
  let asked: string[];
  let clock: ManualClock;

  beforeEach(() => {
    versions = new Map([
      ['shop/shop-db', '10'],
      ['shop/broker', '20'],
    ]);
    requeued = [];
    clock = new ManualClock(0);
    const meta = secretsMeta(versions);
    asked = meta.asked;
    watch = new TriggerSecretWatch(
      meta.client,
      (ns, name) => requeued.push(`${ns}/${name}`),
      clock,
      1_000,
      quiet,
    );
    watch.remember('shop', 'orders', new Map([['shop-db', '10']]));
    watch.remember(
      'shop',
      'billing',
      new Map([
        ['shop-db', '10'],
        ['broker', '20'],
      ]),
    );
  });

  const cases: { name: string; change: () => void; expected: string[] }[] = [
    { name: 'nothing moved: nothing reconciled', change: () => {}, expected: [] },
    {
      name: 'a Secret written again: every Function naming it',
      change: () => versions.set('shop/shop-db', '11'),
      expected: ['shop/orders', 'shop/billing'],
    },
    {
      name: 'a Secret deleted: its Functions (their copies lose it)',
      change: () => versions.delete('shop/broker'),
      expected: ['shop/billing'],
    },
    {
      name: 'the API server away: nothing known, nothing reconciled',
      change: () => {
        versions.set('shop/shop-db', 'away');
        versions.set('shop/broker', 'away');
      },
      expected: [],
    },
  ];
  for (const { name, change, expected } of cases)
    it(name, async () => {
      change();
      await watch.check();
      assert.deepEqual(requeued.sort(), [...expected].sort());
    });

  it('reads each Secret once a pass, however many Functions name it', async () => {
    await watch.check();
    assert.deepEqual(asked.sort(), ['shop/broker', 'shop/shop-db']);
  });

  it('a Secret that was not there and now is counts as moved', async () => {
    watch.remember('shop', 'jobs', new Map([['queue-creds', undefined]]));
    await watch.check();
    assert.deepEqual(requeued, []);
    versions.set('shop/queue-creds', '5');
    await watch.check();
    assert.deepEqual(requeued, ['shop/jobs']);
  });

  it('once copied again (remembered anew), or forgotten, it is quiet', async () => {
    versions.set('shop/shop-db', '11');
    watch.remember('shop', 'orders', new Map([['shop-db', '11']]));
    watch.forget('shop', 'billing');
    await watch.check();
    assert.deepEqual(requeued, []);
  });

  it('runs every interval on its clock once started, and no more once stopped', async () => {
    versions.set('shop/shop-db', '11');
    watch.start();
    clock.advance(999);
    await settle();
    assert.deepEqual(requeued, [], 'not before the interval');
    await clock.advanceAndSettle(1);
    assert.equal(requeued.length, 2);
    watch.stop();
    await clock.advanceAndSettle(5_000);
    assert.equal(requeued.length, 2);
  });
});
