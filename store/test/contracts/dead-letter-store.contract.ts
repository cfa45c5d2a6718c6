import assert from 'node:assert/strict';
import type {
  DeadLetter,
  DeadLetterLimits,
  DeadLetterStore,
  NewDeadLetter,
} from '../../src/dead-letter-store.js';
import { InvalidStoreInputError } from '../../src/errors.js';
import { bodyBytes } from '../../src/stored-body.js';

export interface DeadLetterFixture {
  /** A store on the fixture's data; each call gives another handle on it. */
  open(limits?: Partial<DeadLetterLimits>): DeadLetterStore;
  /** The time the store expires entries by (a fake clock in memory, the real one for Redis). */
  now(): number;
  close(): Promise<void>;
}

/** The rules of the DeadLetterStore port, run against every adapter. */
export function describeDeadLetterStoreContract(
  adapter: string,
  setUp: () => Promise<DeadLetterFixture>,
): void {
  describe(`DeadLetterStore contract: ${adapter}`, () => {
    let f: DeadLetterFixture;
    let dlq: DeadLetterStore;
    let base: number;

    const letter = (id: string, ageMs: number, extra: Partial<NewDeadLetter> = {}): NewDeadLetter => ({
      id,
      namespace: 'team-a',
      function: 'resize',
      reason: 'max-deliver',
      lastError: `HTTP 500 from ${id}`,
      attempts: 5,
      request: { headers: { 'content-type': 'application/json' }, body: `{"id":"${id}"}` },
      failedAt: base - ageMs,
      ...extra,
    });
    const ids = (entries: DeadLetter[]) => entries.map((e) => e.id);

    beforeEach(async () => {
      f = await setUp();
      dlq = f.open();
      base = f.now();
    });
    afterEach(() => f.close());

    describe('add and get', () => {
      it('keeps an entry whole and reads it back', async () => {
        const { entry: added, evicted } = await dlq.add(letter('d1', 0));
        assert.deepEqual(evicted, []);
        const expected: DeadLetter = {
          id: 'd1',
          namespace: 'team-a',
          function: 'resize',
          reason: 'max-deliver',
          lastError: 'HTTP 500 from d1',
          attempts: 5,
          request: {
            headers: { 'content-type': 'application/json' },
            body: '{"id":"d1"}',
            encoding: 'utf8',
            truncated: false,
            size: 11,
          },
          failedAt: base,
        };
        assert.deepEqual(added, expected);
        assert.deepEqual(await dlq.get('d1'), expected);
      });

      it('never keeps a credential header, only its name; names carried over are kept', async () => {
        const headers = {
          'content-type': 'text/plain',
          Authorization: 'Bearer s3cret',
          cookie: 'sid=s3cret',
          'x-api-key': 's3cret',
        };
        const { entry } = await dlq.add(letter('d1', 0, { request: { headers, body: 'x' } }));
        const stored = await dlq.get('d1');
        assert.deepEqual(stored, entry);
        assert.deepEqual(stored?.request.headers, { 'content-type': 'text/plain' });
        assert.deepEqual(stored?.request.removedHeaders, ['Authorization', 'cookie', 'x-api-key']);
        assert.doesNotMatch(JSON.stringify(stored), /s3cret/);
        // Put back after a failed redrive: what was removed before is still said.
        await dlq.add(
          letter('d1', 0, {
            request: { headers: stored?.request.headers ?? {}, body: 'x', removedHeaders: ['cookie'] },
          }),
        );
        assert.deepEqual((await dlq.get('d1'))?.request.removedHeaders, ['cookie']);
        await assert.rejects(
          dlq.add(letter('d2', 0, { request: { headers: {}, body: 'x', removedHeaders: [1 as never] } })),
          InvalidStoreInputError,
        );
      });

      it('keeps a binary request body byte for byte', async () => {
        const body = new Uint8Array([0, 255, 128, 10, 13]);
        await dlq.add(letter('d1', 0, { request: { headers: {}, body } }));
        const stored = await dlq.get('d1');
        assert.equal(stored?.request.encoding, 'base64');
        assert.deepEqual([...bodyBytes(stored?.request ?? { body: '', encoding: 'utf8' })], [...body]);
      });

      it('reads a missing id as undefined', async () => {
        assert.equal(await dlq.get('nope'), undefined);
      });

      it('replaces an entry added again under the same id, listing it once in its new place', async () => {
        await dlq.add(letter('d1', 3_000));
        await dlq.add(letter('d2', 2_000));
        await dlq.add(letter('d1', 1_000, { namespace: 'team-b', attempts: 9 }));
        assert.equal((await dlq.get('d1'))?.attempts, 9);
        assert.deepEqual(ids((await dlq.list()).entries), ['d1', 'd2']);
        assert.deepEqual(ids((await dlq.list({ namespace: 'team-a' })).entries), ['d2']);
        assert.deepEqual(ids((await dlq.list({ namespace: 'team-b' })).entries), ['d1']);
      });

      const bad: [string, Partial<NewDeadLetter>][] = [
        ['an empty id', { id: '' }],
        ['a bad namespace', { namespace: 'A_B' }],
        ['an empty reason', { reason: '' }],
        ['negative attempts', { attempts: -1 }],
        ['a fractional failedAt', { failedAt: 1.5 }],
        ['headers that are not strings', { request: { headers: { a: 1 as unknown as string }, body: '' } }],
      ];
      for (const [what, extra] of bad) {
        it(`refuses ${what}`, async () => {
          await assert.rejects(dlq.add(letter('d1', 0, extra)), InvalidStoreInputError);
          assert.deepEqual((await dlq.list()).entries, []);
        });
      }
    });

    describe('list', () => {
      it('lists newest first, then by id for the same time', async () => {
        await dlq.add(letter('old', 5_000));
        await dlq.add(letter('new', 0));
        await dlq.add(letter('mid-a', 2_000));
        await dlq.add(letter('mid-b', 2_000));
        assert.deepEqual(ids((await dlq.list()).entries), ['new', 'mid-b', 'mid-a', 'old']);
      });

      it('filters by namespace and by function', async () => {
        await dlq.add(letter('a1', 4, { namespace: 'team-a', function: 'one' }));
        await dlq.add(letter('a2', 3, { namespace: 'team-a', function: 'two' }));
        await dlq.add(letter('b1', 2, { namespace: 'team-b', function: 'one' }));
        await dlq.add(letter('a3', 1, { namespace: 'team-a', function: 'one' }));
        assert.deepEqual(ids((await dlq.list({ namespace: 'team-a' })).entries), ['a3', 'a2', 'a1']);
        assert.deepEqual(ids((await dlq.list({ namespace: 'team-a', function: 'one' })).entries), [
          'a3',
          'a1',
        ]);
        assert.deepEqual(ids((await dlq.list({ namespace: 'team-b', function: 'one' })).entries), ['b1']);
        assert.deepEqual(ids((await dlq.list({ namespace: 'team-c' })).entries), []);
      });

      it('pages with a cursor through every entry exactly once, with no cursor on the last page', async () => {
        for (let i = 0; i < 7; i++) await dlq.add(letter(`d${i}`, i * 1_000));
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await dlq.list({ limit: 3, ...(cursor ? { cursor } : {}) });
          assert.ok(page.entries.length <= 3);
          seen.push(...ids(page.entries));
          cursor = page.cursor;
          pages++;
        } while (cursor !== undefined && pages < 10);
        assert.deepEqual(seen, ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6']);
        assert.equal(pages, 3);
      });

      it('gives no cursor when a page holds exactly what is left', async () => {
        for (let i = 0; i < 3; i++) await dlq.add(letter(`d${i}`, i));
        const page = await dlq.list({ limit: 3 });
        assert.equal(page.entries.length, 3);
        assert.equal(page.cursor, undefined);
      });

      it('keeps paging stable when entries are added or deleted between pages', async () => {
        for (let i = 0; i < 6; i++) await dlq.add(letter(`d${i}`, 10_000 + i * 1_000));
        const first = await dlq.list({ limit: 2 });
        assert.deepEqual(ids(first.entries), ['d0', 'd1']);
        await dlq.add(letter('newer', 0));
        await dlq.delete('d3');
        const second = await dlq.list({ limit: 2, ...(first.cursor ? { cursor: first.cursor } : {}) });
        assert.deepEqual(ids(second.entries), ['d2', 'd4']);
      });

      it('refuses a function without its namespace, a bad limit, and a cursor it did not give out', async () => {
        await assert.rejects(dlq.list({ function: 'one' }), InvalidStoreInputError);
        await assert.rejects(dlq.list({ limit: 0 }), InvalidStoreInputError);
        await assert.rejects(dlq.list({ limit: 1001 }), InvalidStoreInputError);
        await assert.rejects(dlq.list({ limit: 2.5 }), InvalidStoreInputError);
        await assert.rejects(dlq.list({ cursor: 'not-a-cursor' }), InvalidStoreInputError);
      });

      it('returns at most 50 by default', async () => {
        await Promise.all(Array.from({ length: 55 }, (_, i) => dlq.add(letter(`d${i}`, i))));
        const page = await dlq.list();
        assert.equal(page.entries.length, 50);
        assert.notEqual(page.cursor, undefined);
      });
    });

    describe('delete and take', () => {
      it('deletes an entry from get and from every listing, and says whether there was one', async () => {
        await dlq.add(letter('d1', 0));
        await dlq.add(letter('d2', 1));
        assert.equal(await dlq.delete('d1'), true);
        assert.equal(await dlq.get('d1'), undefined);
        assert.deepEqual(ids((await dlq.list()).entries), ['d2']);
        assert.deepEqual(ids((await dlq.list({ namespace: 'team-a', function: 'resize' })).entries), ['d2']);
        assert.equal(await dlq.delete('d1'), false);
      });

      it('takes an entry: returns it and removes it', async () => {
        const { entry: added } = await dlq.add(letter('d1', 0));
        assert.deepEqual(await dlq.take('d1'), added);
        assert.equal(await dlq.get('d1'), undefined);
        assert.deepEqual((await dlq.list({ namespace: 'team-a' })).entries, []);
        assert.equal(await dlq.take('d1'), undefined);
      });

      it('gives an entry to exactly one of many concurrent takes', async () => {
        await dlq.add(letter('d1', 0));
        const taken = await Promise.all(Array.from({ length: 10 }, () => f.open().take('d1')));
        assert.equal(taken.filter((t) => t !== undefined).length, 1);
      });
    });

    describe('bounds', () => {
      it('keeps 64 KiB of a request body by default, says it was cut, and keeps its size', async () => {
        const whole = await dlq.add(
          letter('whole', 0, { request: { headers: {}, body: 'a'.repeat(65_536) } }),
        );
        assert.equal(whole.entry.request.truncated, false);
        await dlq.add(letter('cut', 0, { request: { headers: {}, body: 'b'.repeat(200_000) } }));
        const cut = await dlq.get('cut');
        assert.equal(cut?.request.truncated, true);
        assert.equal(cut?.request.size, 200_000);
        assert.equal(cut?.request.body, 'b'.repeat(65_536));
      });

      it('follows a configured body limit, bytes as well as text', async () => {
        const store = f.open({ maxBodyBytes: 4 });
        await store.add(
          letter('bin', 0, { request: { headers: {}, body: new Uint8Array([0, 255, 1, 2, 3, 4]) } }),
        );
        const stored = await store.get('bin');
        assert.equal(stored?.request.truncated, true);
        assert.equal(stored?.request.size, 6);
        assert.deepEqual([...bodyBytes(stored?.request ?? { body: '', encoding: 'utf8' })], [0, 255, 1, 2]);
      });

      it("drops a function's oldest entries beyond maxPerFunction, and no other function's", async () => {
        const store = f.open({ maxPerFunction: 3 });
        await store.add(letter('other', 10_000, { function: 'thumb' }));
        const evictions: string[][] = [];
        for (let i = 0; i < 6; i++)
          evictions.push((await store.add(letter(`d${i}`, 6_000 - i * 1_000))).evicted);
        assert.deepEqual(evictions, [[], [], [], ['d0'], ['d1'], ['d2']]);
        assert.deepEqual(ids((await store.list({ namespace: 'team-a', function: 'resize' })).entries), [
          'd5',
          'd4',
          'd3',
        ]);
        assert.deepEqual(ids((await store.list()).entries), ['d5', 'd4', 'd3', 'other']);
        assert.equal(await store.get('d0'), undefined);
        assert.notEqual(await store.get('other'), undefined);
      });

      it('keeps a replaced entry once when counting toward the bound', async () => {
        const store = f.open({ maxPerFunction: 2 });
        await store.add(letter('a', 2_000));
        await store.add(letter('b', 1_000));
        assert.deepEqual((await store.add(letter('a', 0))).evicted, []);
        assert.deepEqual(ids((await store.list()).entries), ['a', 'b']);
      });
    });

    describe('retention', () => {
      it('keeps entries for 7 days after they failed, and no longer', async () => {
        const week = 7 * 24 * 60 * 60 * 1000;
        await dlq.add(letter('kept', week - 60_000));
        await dlq.add(letter('gone', week + 1));
        assert.notEqual(await dlq.get('kept'), undefined);
        assert.equal(await dlq.get('gone'), undefined);
        assert.deepEqual(ids((await dlq.list()).entries), ['kept']);
        assert.deepEqual(ids((await dlq.list({ namespace: 'team-a', function: 'resize' })).entries), [
          'kept',
        ]);
      });

      it('follows a configured retention', async () => {
        const store = f.open({ retentionMs: 10_000 });
        await store.add(letter('kept', 5_000));
        await store.add(letter('gone', 10_001));
        assert.deepEqual(ids((await store.list()).entries), ['kept']);
      });
    });
  });
}
