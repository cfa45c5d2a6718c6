import assert from 'node:assert/strict';
import { settle } from '@nimbus/testkit';
import type { KubeObject } from '../src/index.js';
import type { FakeListWatch } from './support/fake-list-watch.js';
import { cm, listOf, setup, stopInformers, unreachable, watching } from './support/informer-fixture.js';

describe('Informer on a manual clock: retries and stop()', () => {
  afterEach(stopInformers);

  describe('retries', () => {
    for (const { random, delays } of [
      { random: 0.5, delays: [150, 300, 600, 1200, 2400, 4800, 9600, 19200, 22500, 22500] },
      { random: 0, delays: [100, 200, 400, 800, 1600, 3200, 6400, 12800, 15000, 15000] },
    ]) {
      it(`waits ${delays.join(', ')} ms between failed lists (random ${random}), then lists`, async () => {
        const { api, clock, informer } = setup({}, () => random);
        api.reply(...delays.map(unreachable), listOf('3', cm('a', '1')));
        informer.start();
        await settle();
        for (const [i, delay] of delays.entries()) {
          assert.equal(api.listCalls.length, i + 1);
          assert.equal(clock.pending, 1, 'one timer, for the retry');
          await clock.advanceAndSettle(delay - 1);
          assert.equal(api.listCalls.length, i + 1, `no retry before ${delay} ms`);
          await clock.advanceAndSettle(1);
          assert.equal(api.listCalls.length, i + 2, `the retry at ${delay} ms`);
        }
        assert.equal(informer.hasSynced, true);
        assert.equal(api.watches.length, 1);
        assert.equal(clock.pending, 0);
      });
    }

    it('counts failures from one again after a watch that ended well', async () => {
      const { api, clock, informer } = setup();
      api.reply(unreachable(), unreachable(), unreachable(), listOf('3', cm('a', '1')));
      informer.start();
      await settle();
      await clock.advanceAndSettle(150 + 300 + 600);
      assert.equal(api.watches.length, 1, 'listed on the fourth try, and watching');
      api.open.end();
      await settle();
      api.open.fail(new Error('socket hang up'));
      await settle();
      await clock.advanceAndSettle(149);
      assert.equal(api.watches.length, 2, 'no retry before the first step');
      await clock.advanceAndSettle(1);
      assert.equal(api.watches.length, 3, 'the retry after the first step, 150 ms, not the fourth');
    });

    for (const { how, fail } of [
      { how: 'a watch that breaks', fail: (w: FakeListWatch<KubeObject>) => w.open.fail(unreachable()) },
      {
        how: 'an ERROR event other than 410',
        fail: (w: FakeListWatch<KubeObject>) =>
          w.open
            .send({
              type: 'ERROR',
              object: { kind: 'Status', code: 500, reason: 'InternalError' } as unknown as KubeObject,
            })
            .end(),
      },
    ]) {
      it(`retries ${how} after the wait, from the same version and without listing`, async () => {
        const { api, clock } = await watching('4', cm('a', '1'));
        fail(api);
        await settle();
        assert.equal(clock.pending, 1);
        await clock.advanceAndSettle(149);
        assert.equal(api.watches.length, 1);
        await clock.advanceAndSettle(1);
        assert.equal(api.watches.length, 2);
        assert.equal(api.open.options.resourceVersion, '4');
        assert.equal(api.listCalls.length, 1);
      });
    }
  });

  describe('stop()', () => {
    const stopCases: { when: string; arrange: (t: ReturnType<typeof setup>) => Promise<void> }[] = [
      {
        when: 'while a watch is open',
        arrange: async ({ api }) => {
          api.reply(listOf('1', cm('a', '1')));
        },
      },
      {
        when: 'while it waits to retry',
        arrange: async ({ api }) => {
          api.reply(unreachable());
        },
      },
    ];

    for (const { when, arrange } of stopCases) {
      it(`ends everything ${when}, leaving no timer and no open watch`, async () => {
        const t = setup();
        await arrange(t);
        t.informer.start();
        await settle();
        await t.informer.stop();
        assert.equal(t.clock.pending, 0, 'no timer');
        assert.ok(
          t.api.watches.every((w) => !w.isOpen && w.options.signal.aborted),
          'every watch ended',
        );
        const calls = t.api.listCalls.length + t.api.watches.length;
        t.api.reply(listOf('2'));
        await t.clock.advanceAndSettle(60_000);
        assert.equal(t.api.listCalls.length + t.api.watches.length, calls, 'no call after stop()');
      });
    }

    it('waits for a list in flight and applies nothing of it', async () => {
      const { api, clock, informer, seen } = setup();
      informer.start();
      await settle();
      assert.equal(api.listCalls.length, 1);
      let stopped = false;
      const stopping = informer.stop().then(() => {
        stopped = true;
      });
      await settle();
      assert.equal(stopped, false, 'stop() waits for the list to answer');
      api.reply(listOf('1', cm('a', '1')));
      await stopping;
      assert.deepEqual(seen, []);
      assert.equal(informer.hasSynced, false);
      assert.ok(api.watches.every((w) => !w.isOpen));
      assert.equal(clock.pending, 0);
    });

    it('resumes watching from where it was when started again', async () => {
      const { api, informer } = await watching('1', cm('a', '1'));
      api.open.send({ type: 'MODIFIED', object: cm('a', '6') });
      await informer.stop();
      informer.start();
      await settle();
      assert.equal(api.watches.length, 2);
      assert.equal(api.open.isOpen, true);
      assert.equal(api.open.options.resourceVersion, '6');
      assert.equal(api.listCalls.length, 1);
    });
  });
});
