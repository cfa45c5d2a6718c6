import assert from 'node:assert/strict';
import { WriteTurn } from '../src/jetstream/write-turn.js';

describe('WriteTurn', () => {
  it('resumes the callers of separate callbacks of one turn before a write the first one queued', async () => {
    const turn = new WriteTurn();
    const seen: string[] = [];
    await new Promise<void>((done) => {
      // Three callbacks of one phase of the loop (here the check phase; answers from three
      // sockets come as three callbacks of one poll phase), each asking for the turn.
      for (const name of ['a', 'b', 'c'])
        setImmediate(() => {
          void turn.next().then(() => {
            seen.push(name);
            // What nats.js does on the first command of a batch: it writes in a microtask after.
            if (name === 'a') queueMicrotask(() => seen.push('write'));
          });
        });
      setImmediate(() => setImmediate(() => setImmediate(done)));
    });
    assert.deepEqual(seen, ['a', 'b', 'c', 'write']);
  });

  it('is one wait per turn: the same promise within a turn, a new one after', async () => {
    const turn = new WriteTurn();
    const first = turn.next();
    assert.equal(turn.next(), first);
    await first;
    const second = turn.next();
    assert.notEqual(second, first);
    await second;
  });
});
