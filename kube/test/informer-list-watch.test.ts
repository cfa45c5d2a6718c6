import assert from 'node:assert/strict';
import { settle } from '@nimbus/testkit';
import type { KubeObject, WatchEvent } from '../src/index.js';
import { pages } from './support/fake-list-watch.js';
import { cm, gone, listOf, names, setup, stopInformers, watching } from './support/informer-fixture.js';

describe('Informer on a fake API server: list and watch', () => {
  afterEach(stopInformers);

  describe('the first list', () => {
    it('pages with continue tokens, applies the list once the last page is in, and watches from its version', async () => {
      const { api, informer, seen } = setup({ pageSize: 2, labelSelector: 'app=x' });
      const [first, ...rest] = pages(
        ['a', 'b', 'c', 'd', 'e'].map((n) => cm(n, '3')),
        2,
        ['10', '11', '12'],
      );
      api.reply(first);
      informer.start();
      await settle();
      assert.equal(api.listCalls.length, 2, 'the second page is asked for');
      assert.deepEqual(seen, [], 'nothing is reported before the last page');
      assert.equal(informer.hasSynced, false);

      api.reply(...rest);
      await settle();
      assert.deepEqual(api.listCalls, [
        { namespace: 'ns', labelSelector: 'app=x', limit: 2, continue: undefined },
        { namespace: 'ns', labelSelector: 'app=x', limit: 2, continue: 'page-2' },
        { namespace: 'ns', labelSelector: 'app=x', limit: 2, continue: 'page-3' },
      ]);
      assert.deepEqual(seen, ['added a', 'added b', 'added c', 'added d', 'added e']);
      assert.deepEqual(names(informer), ['a', 'b', 'c', 'd', 'e']);
      assert.equal(informer.get('ns', 'd')?.metadata.name, 'd');
      assert.equal(informer.hasSynced, true);
      assert.equal(informer.lists, 1);
      assert.equal(api.open.options.resourceVersion, '12', 'the version of the last page');
    });

    for (const { pageSize, limit } of [
      { pageSize: undefined, limit: 500 },
      { pageSize: 3, limit: 3 },
    ]) {
      it(`asks for pages of ${limit} when pageSize is ${pageSize}`, async () => {
        const { api, informer } = setup({ pageSize });
        api.reply(listOf('1'));
        informer.start();
        await settle();
        assert.equal(api.listCalls[0]?.limit, limit);
      });
    }

    it('resolves synced() once the whole list is in, and at once after that', async () => {
      const { api, informer } = setup({ pageSize: 1 });
      const [first, ...rest] = pages([cm('a', '1'), cm('b', '1')], 1, ['4', '4']);
      let synced = false;
      void informer.synced().then(() => {
        synced = true;
      });
      api.reply(first);
      informer.start();
      await settle();
      assert.equal(synced, false);
      api.reply(...rest);
      await settle();
      assert.equal(synced, true);
      await informer.synced();
    });
  });

  describe('watching', () => {
    const status = (code: number): KubeObject =>
      ({
        kind: 'Status',
        code,
        reason: 'Expired',
        message: 'too old resource version',
      }) as unknown as KubeObject;

    const cases: {
      name: string;
      events: WatchEvent<KubeObject>[];
      seen: string[];
      cache: string[];
      resumeFrom: string;
    }[] = [
      {
        name: 'applies ADDED, MODIFIED and DELETED in order',
        events: [
          { type: 'ADDED', object: cm('b', '2') },
          { type: 'MODIFIED', object: cm('a', '3') },
          { type: 'ADDED', object: cm('c', '4') },
          { type: 'DELETED', object: cm('b', '5') },
        ],
        seen: ['added b', 'updated a 1→3', 'added c', 'deleted b'],
        cache: ['a', 'c'],
        resumeFrom: '5',
      },
      {
        name: 'moves the resource version on at a BOOKMARK, reporting nothing',
        events: [{ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }],
        seen: [],
        cache: ['a'],
        resumeFrom: '9',
      },
      {
        name: 'reports no update for a MODIFIED that leaves the resource version as it was',
        events: [{ type: 'MODIFIED', object: cm('a', '1') }],
        seen: [],
        cache: ['a'],
        resumeFrom: '1',
      },
      {
        name: 'reports no deletion of an object it never had',
        events: [{ type: 'DELETED', object: cm('z', '6') }],
        seen: [],
        cache: ['a'],
        resumeFrom: '6',
      },
    ];

    for (const c of cases) {
      it(`${c.name}; an ended watch resumes from the last version without listing again`, async () => {
        const { api, clock, informer, seen } = await watching('1', cm('a', '1'));
        api.open.send(...c.events);
        assert.deepEqual(seen, c.seen);
        assert.deepEqual(names(informer), c.cache);
        api.open.end();
        await settle();
        assert.equal(api.watches.length, 2, 'a second watch');
        assert.equal(api.open.options.resourceVersion, c.resumeFrom);
        assert.equal(api.listCalls.length, 1, 'no second list');
        assert.equal(clock.pending, 0, 'no wait before resuming');
      });
    }

    it('resumes every time a watch ends, each time from the newest version', async () => {
      const { api } = await watching('1', cm('a', '1'));
      api.open.send({ type: 'MODIFIED', object: cm('a', '7') }).end();
      await settle();
      api.open.send({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '8' } } }).end();
      await settle();
      assert.deepEqual(
        api.watches.map((w) => w.options.resourceVersion),
        ['1', '7', '8'],
      );
      assert.equal(api.listCalls.length, 1);
    });

    for (const { watchSeconds, random, asked } of [
      { watchSeconds: 60, random: 0.5, asked: 60 },
      { watchSeconds: undefined, random: 0, asked: 300 },
      { watchSeconds: undefined, random: 0.5, asked: 450 },
    ]) {
      it(`asks the server to end each watch after ${asked} s (watchSeconds ${watchSeconds}, random ${random})`, async () => {
        const { api, informer } = setup({ watchSeconds, labelSelector: 'app=x' }, () => random);
        api.reply(listOf('1'));
        informer.start();
        await settle();
        const { signal, ...options } = api.open.options;
        assert.deepEqual(options, {
          namespace: 'ns',
          labelSelector: 'app=x',
          resourceVersion: '1',
          timeoutSeconds: asked,
        });
        assert.equal(signal.aborted, false);
      });
    }

    it('keeps no managedFields of what it lists or watches: nothing reads them, and they weigh the most', async () => {
      const withFields = (name: string, rv: string): KubeObject => {
        const object = cm(name, rv);
        (object.metadata as { managedFields?: unknown }).managedFields = [
          { manager: 'nimbus-controller', operation: 'Apply', fieldsV1: { 'f:data': { 'f:index.mjs': {} } } },
        ];
        return object;
      };
      const { api, informer } = await watching('1', withFields('a', '1'));
      api.open.send({ type: 'ADDED', object: withFields('b', '2') });
      await settle();
      for (const name of ['a', 'b']) {
        const kept = informer.get('ns', name);
        assert.equal(kept?.metadata.name, name);
        assert.equal((kept?.metadata as { managedFields?: unknown }).managedFields, undefined);
      }
    });

    it('reports an event to every handler even when one of them throws', async () => {
      const { api, informer, seen } = await watching('1');
      informer.on(() => {
        throw new Error('a handler bug');
      });
      const after: string[] = [];
      informer.on((e) => after.push(e.object.metadata.name ?? ''));
      api.open.send({ type: 'ADDED', object: cm('b', '2') }, { type: 'ADDED', object: cm('c', '3') });
      assert.deepEqual(seen, ['added b', 'added c']);
      assert.deepEqual(after, ['b', 'c']);
    });

    describe('410 Gone', () => {
      for (const { how, expire } of [
        {
          how: 'an ERROR event with a 410 Status',
          // The API server ends a watch after its ERROR event.
          expire: (t: Awaited<ReturnType<typeof watching>>) =>
            t.api.open.send({ type: 'ERROR', object: status(410) }).end(),
        },
        {
          how: 'a watch refused with 410',
          expire: (t: Awaited<ReturnType<typeof watching>>) => t.api.open.fail(gone()),
        },
      ]) {
        it(`lists again at once after ${how}, reporting what changed in between`, async () => {
          const t = await watching('5', cm('a', '1'), cm('b', '1'), cm('c', '1'));
          t.api.reply(listOf('9', cm('a', '1'), cm('b', '7'), cm('d', '8')));
          expire(t);
          await settle();
          assert.deepEqual(t.seen, ['deleted c', 'updated b 1→7', 'added d']);
          assert.deepEqual(names(t.informer), ['a', 'b', 'd']);
          assert.equal(t.informer.lists, 2);
          assert.equal(t.api.listCalls.length, 2);
          assert.equal(t.api.listCalls[1]?.continue, undefined);
          assert.equal(t.api.watches.length, 2);
          assert.equal(t.api.open.options.resourceVersion, '9', "the new list's version");
          assert.equal(t.clock.pending, 0, 'no backoff before the relist');
        });
      }

      it('starts the list over from the first page when a continue token has expired (410)', async () => {
        const { api, clock, informer, seen } = setup({ pageSize: 2 });
        const stale = pages([cm('a', '1'), cm('b', '1'), cm('c', '1')], 2, ['5']);
        const fresh = pages([cm('a', '1'), cm('c', '6'), cm('d', '7')], 2, ['9']);
        api.reply(stale[0], gone(), ...fresh);
        informer.start();
        await settle();
        assert.deepEqual(
          api.listCalls.map((c) => c.continue),
          [undefined, 'page-2', undefined, 'page-2'],
        );
        assert.deepEqual(seen, ['added a', 'added c', 'added d'], 'nothing of the abandoned list');
        assert.equal(informer.lists, 1);
        assert.equal(api.open.options.resourceVersion, '9');
        assert.equal(clock.pending, 0);
      });
    });
  });
});
