import assert from 'node:assert/strict';
import { CheckpointFullError, type CheckpointStore } from '../../src/checkpoint-store.js';
import { InvalidStoreInputError } from '../../src/errors.js';

export interface CheckpointFixture {
  /** Another handle on the fixture's checkpoints (a gateway after a restart); limited to `maxFields`. */
  open(): CheckpointStore;
  readonly maxFields: number;
  close(): Promise<void>;
}

/** The rules of the CheckpointStore port, run against every adapter. */
export function describeCheckpointStoreContract(
  adapter: string,
  setUp: () => Promise<CheckpointFixture>,
): void {
  describe(`CheckpointStore contract: ${adapter}`, () => {
    let f: CheckpointFixture;
    const key = 'team-a/thumbnails/uploads';

    beforeEach(async () => {
      f = await setUp();
    });
    afterEach(() => f.close());

    it('keeps fields across handles, updates and deletes them, and keeps triggers apart', async () => {
      const one = f.open().checkpoint(key);
      const other = f.open().checkpoint('team-a/thumbnails/other');
      assert.deepEqual(await one.entries(), new Map(), 'a new checkpoint is empty');
      await one.set(
        new Map([
          ['a.jpg', '1 10 "e1"'],
          ['dir/b c+d%.jpg', '2 20 "e2"'],
          ['', 'marker'],
        ]),
      );
      await one.set(new Map([['a.jpg', '3 11 "e3"']]));
      await other.set(new Map([['x', 'y']]));
      const again = f.open().checkpoint(key);
      assert.deepEqual(
        await again.entries(),
        new Map([
          ['a.jpg', '3 11 "e3"'],
          ['dir/b c+d%.jpg', '2 20 "e2"'],
          ['', 'marker'],
        ]),
      );
      await again.delete(['a.jpg', 'never-there']);
      assert.deepEqual([...(await one.entries()).keys()].sort(), ['', 'dir/b c+d%.jpg']);
      await one.clear();
      assert.deepEqual(await one.entries(), new Map());
      assert.deepEqual(await other.entries(), new Map([['x', 'y']]), 'clearing one left the other');
    });

    it('reads and writes more fields than one command or scan page holds', async () => {
      const many = new Map(Array.from({ length: 2_500 }, (_, i) => [`k/${i}`, `v${i}`] as [string, string]));
      const cp = f.open().checkpoint(key);
      await cp.set(many);
      assert.deepEqual(await f.open().checkpoint(key).entries(), many);
      await cp.delete([...many.keys()].slice(0, 2_400));
      assert.equal((await cp.entries()).size, 100);
    });

    it('refuses a write past maxFields whole, and takes updates of fields it has', async () => {
      const cp = f.open().checkpoint(key);
      const full = new Map(Array.from({ length: f.maxFields }, (_, i) => [`k${i}`, 'v'] as [string, string]));
      await cp.set(full);
      await assert.rejects(
        cp.set(new Map([['one-more', 'v']])),
        (err: unknown) => err instanceof CheckpointFullError && err.would === f.maxFields + 1,
      );
      await cp.set(new Map([['k0', 'changed']]));
      const now = await cp.entries();
      assert.equal(now.size, f.maxFields);
      assert.equal(now.has('one-more'), false, 'nothing of the refused write landed');
      assert.equal(now.get('k0'), 'changed');
    });

    it('refuses bad keys, over-long fields and values before any write', async () => {
      assert.throws(() => f.open().checkpoint(''), InvalidStoreInputError);
      assert.throws(() => f.open().checkpoint('has space'), InvalidStoreInputError);
      const cp = f.open().checkpoint(key);
      await assert.rejects(cp.set(new Map([['x'.repeat(1_025), 'v']])), InvalidStoreInputError);
      await assert.rejects(
        cp.set(
          new Map([
            ['fine', 'v'],
            ['y', 'v'.repeat(513)],
          ]),
        ),
        InvalidStoreInputError,
      );
      await assert.rejects(cp.delete(['x'.repeat(1_025)]), InvalidStoreInputError);
      assert.deepEqual(await cp.entries(), new Map(), 'nothing was written');
    });
  });
}
