import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import { WorkQueue } from '../src/reconcile/work-queue.js';

describe('ManualClock (the fake the queue tests rely on)', () => {
  it('fires due timers in time order, at their time, and never a cleared one', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`late@${clock.now()}`), 30);
    clock.setTimeout(() => fired.push(`early@${clock.now()}`), 10);
    const cleared = clock.setTimeout(() => fired.push('cleared'), 20);
    clock.clearTimeout(cleared);
    clock.advance(9);
    assert.deepEqual(fired, []);
    clock.advance(21);
    assert.deepEqual(fired, ['early@10', 'late@30']);
    assert.equal(clock.now(), 30);
    assert.equal(clock.pending, 0);
  });
});

const WAITING = Symbol('waiting');
type Got = string | undefined | typeof WAITING;

/** What a promise holds right now, without waiting for anything but the microtasks already due. */
function settled<T>(promise: Promise<T>): Promise<T | typeof WAITING> {
  return Promise.race([promise, Promise.resolve(WAITING)]);
}

/** One step of a script run against a fresh queue; every step that reads something asserts it. */
type Step =
  | { op: 'add'; key: string }
  | { op: 'addAfter'; key: string; ms: number }
  | { op: 'addRateLimited'; key: string; delay: number }
  | { op: 'forget'; key: string }
  /** A worker asks for a key: `want` is the key it gets at once, or WAITING. */
  | { op: 'next'; want: Got }
  /** The worker that has waited longest has now been handed `want`. */
  | { op: 'woken'; want: string | undefined }
  | { op: 'done'; key: string }
  | { op: 'tick'; ms: number }
  | { op: 'shutDown' }
  | {
      op: 'expect';
      depth?: number;
      has?: Record<string, boolean>;
      failures?: Record<string, number>;
      retrying?: Record<string, boolean>;
      timers?: number;
    };

const add = (key: string): Step => ({ op: 'add', key });
const addAfter = (key: string, ms: number): Step => ({ op: 'addAfter', key, ms });
const addRateLimited = (key: string, delay: number): Step => ({ op: 'addRateLimited', key, delay });
const forget = (key: string): Step => ({ op: 'forget', key });
const next = (want: Got): Step => ({ op: 'next', want });
const woken = (want: string | undefined): Step => ({ op: 'woken', want });
const done = (key: string): Step => ({ op: 'done', key });
const tick = (ms: number): Step => ({ op: 'tick', ms });
const shutDown: Step = { op: 'shutDown' };
const expect = (e: Omit<Extract<Step, { op: 'expect' }>, 'op'>): Step => ({ op: 'expect', ...e });

const OPTIONS = { baseDelayMs: 100, maxDelayMs: 1000 };

/** A step as the failure message shows it, WAITING and undefined included. */
function describeStep(step: Step): string {
  return JSON.stringify(step, (_, v: unknown) =>
    v === WAITING ? 'WAITING' : v === undefined ? 'undefined' : v,
  );
}

async function run(steps: readonly Step[]): Promise<void> {
  const clock = new ManualClock();
  const queue = new WorkQueue(clock, OPTIONS);
  const waiting: Promise<string | undefined>[] = [];
  for (const [i, step] of steps.entries()) {
    const at = `step ${i + 1} ${describeStep(step)}`;
    switch (step.op) {
      case 'add':
        queue.add(step.key);
        break;
      case 'addAfter':
        queue.addAfter(step.key, step.ms);
        break;
      case 'addRateLimited':
        assert.equal(queue.addRateLimited(step.key), step.delay, at);
        break;
      case 'forget':
        queue.forget(step.key);
        break;
      case 'next': {
        const promise = queue.next();
        assert.equal(await settled(promise), step.want, at);
        if (step.want === WAITING) waiting.push(promise);
        break;
      }
      case 'woken': {
        const promise = waiting.shift();
        assert.ok(promise !== undefined, `${at}: no worker is waiting`);
        assert.equal(await settled(promise), step.want, at);
        break;
      }
      case 'done':
        queue.done(step.key);
        break;
      case 'tick':
        clock.advance(step.ms);
        break;
      case 'shutDown':
        queue.shutDown();
        break;
      case 'expect':
        if (step.depth !== undefined) assert.equal(queue.depth, step.depth, `${at}: depth`);
        for (const [key, want] of Object.entries(step.has ?? {}))
          assert.equal(queue.has(key), want, `${at}: has(${key})`);
        for (const [key, want] of Object.entries(step.failures ?? {}))
          assert.equal(queue.failureCount(key), want, `${at}: failureCount(${key})`);
        for (const [key, want] of Object.entries(step.retrying ?? {}))
          assert.equal(queue.isWaitingToRetry(key), want, `${at}: isWaitingToRetry(${key})`);
        if (step.timers !== undefined) assert.equal(clock.pending, step.timers, `${at}: timers pending`);
        break;
    }
  }
  // Whatever a script left waiting must still be waiting: no worker was woken without a step saying so.
  for (const promise of waiting) assert.equal(await settled(promise), WAITING, 'a worker was woken unasked');
}

interface Case {
  name: string;
  steps: Step[];
}

function table(cases: readonly Case[]): void {
  for (const c of cases) it(c.name, () => run(c.steps));
}

describe('WorkQueue', () => {
  describe('adding and handing out', () => {
    table([
      {
        name: 'an empty queue holds nothing and a worker waits',
        steps: [expect({ depth: 0, has: { a: false } }), next(WAITING)],
      },
      {
        name: 'a key added twice is queued and handed out once',
        steps: [add('a'), add('a'), expect({ depth: 1, has: { a: true } }), next('a'), next(WAITING)],
      },
      {
        name: 'keys come out in the order they were first added',
        steps: [add('b'), add('a'), add('b'), expect({ depth: 2 }), next('b'), next('a'), next(WAITING)],
      },
      {
        name: 'a key being processed counts as held but not as queued',
        steps: [add('a'), next('a'), expect({ depth: 0, has: { a: true } })],
      },
      {
        name: 'a key being processed is not handed to a second worker when re-added',
        steps: [add('a'), next('a'), add('a'), expect({ depth: 0, has: { a: true } }), next(WAITING)],
      },
      {
        name: 'a key re-added while processing comes back once it is done',
        steps: [add('a'), next('a'), add('a'), done('a'), expect({ depth: 1, has: { a: true } }), next('a')],
      },
      {
        name: 'a key re-added several times while processing comes back once',
        steps: [
          add('a'),
          next('a'),
          add('a'),
          add('a'),
          done('a'),
          expect({ depth: 1 }),
          next('a'),
          next(WAITING),
        ],
      },
      {
        name: 'a worker waiting while the key was processed gets it on done',
        steps: [add('a'), next('a'), add('a'), next(WAITING), done('a'), woken('a'), expect({ depth: 0 })],
      },
      {
        name: 'other keys are handed out while one is processed',
        steps: [add('a'), next('a'), add('a'), add('b'), next('b'), done('b'), done('a'), next('a')],
      },
      {
        name: 'a key not re-added while processing is gone once done',
        steps: [add('a'), next('a'), done('a'), expect({ depth: 0, has: { a: false } }), next(WAITING)],
      },
      {
        name: 'waiting workers are woken by add, longest waiting first, one key each',
        steps: [
          next(WAITING),
          next(WAITING),
          add('a'),
          woken('a'),
          add('b'),
          woken('b'),
          expect({ depth: 0 }),
        ],
      },
      {
        name: 'a key handed straight to a waiting worker is processing: re-adding it does not queue it',
        steps: [
          next(WAITING),
          add('a'),
          woken('a'),
          add('a'),
          expect({ depth: 0, has: { a: true } }),
          done('a'),
          expect({ depth: 1 }),
        ],
      },
    ]);
  });

  describe('retries after failure', () => {
    const delays = [
      { failure: 1, delay: 100 },
      { failure: 2, delay: 200 },
      { failure: 3, delay: 400 },
      { failure: 4, delay: 800 },
      { failure: 5, delay: 1000 },
      { failure: 6, delay: 1000 },
      { failure: 2000, delay: 1000 },
    ];
    for (const { failure, delay } of delays) {
      it(`failure ${failure} in a row waits ${delay} ms (base 100, cap 1000)`, () => {
        const queue = new WorkQueue(new ManualClock(), OPTIONS);
        let last = Number.NaN;
        for (let i = 0; i < failure; i++) last = queue.addRateLimited('a');
        assert.equal(last, delay);
        assert.equal(queue.failureCount('a'), failure);
      });
    }

    table([
      {
        name: 'the first retry comes back after the base delay, not a millisecond sooner',
        steps: [
          add('a'),
          next('a'),
          addRateLimited('a', 100),
          done('a'),
          expect({ depth: 0, has: { a: true }, retrying: { a: true }, failures: { a: 1 } }),
          tick(99),
          expect({ depth: 0, retrying: { a: true } }),
          tick(1),
          expect({ depth: 1, retrying: { a: false }, failures: { a: 1 } }),
          next('a'),
        ],
      },
      {
        name: 'each further failure doubles the delay up to the cap',
        steps: [
          addRateLimited('a', 100),
          tick(100),
          next('a'),
          addRateLimited('a', 200),
          done('a'),
          tick(199),
          expect({ depth: 0 }),
          tick(1),
          next('a'),
          addRateLimited('a', 400),
          done('a'),
          tick(400),
          next('a'),
          addRateLimited('a', 800),
          done('a'),
          tick(800),
          next('a'),
          addRateLimited('a', 1000),
          done('a'),
          tick(999),
          expect({ depth: 0 }),
          tick(1),
          next('a'),
          addRateLimited('a', 1000),
          expect({ failures: { a: 6 } }),
        ],
      },
      {
        name: 'forget resets the count, so the next failure waits the base delay again',
        steps: [
          addRateLimited('a', 100),
          tick(100),
          next('a'),
          addRateLimited('a', 200),
          done('a'),
          tick(200),
          next('a'),
          forget('a'),
          expect({ failures: { a: 0 } }),
          addRateLimited('a', 100),
          done('a'),
          tick(100),
          expect({ depth: 1 }),
        ],
      },
      {
        name: 'failures are counted per key',
        steps: [
          addRateLimited('a', 100),
          addRateLimited('a', 200),
          addRateLimited('b', 100),
          expect({ failures: { a: 2, b: 1, c: 0 } }),
          forget('a'),
          expect({ failures: { a: 0, b: 1 } }),
        ],
      },
      {
        name: 'a retry falling due while the key is processed comes back after done, once',
        steps: [
          add('a'),
          next('a'),
          addAfter('a', 100),
          tick(100),
          expect({ depth: 0, retrying: { a: false }, has: { a: true } }),
          done('a'),
          expect({ depth: 1 }),
          next('a'),
          next(WAITING),
        ],
      },
    ]);
  });

  describe('addAfter', () => {
    table([
      {
        name: 'adds the key once the time has passed',
        steps: [
          addAfter('a', 50),
          expect({ depth: 0, has: { a: true }, retrying: { a: true } }),
          tick(50),
          expect({ depth: 1, retrying: { a: false } }),
        ],
      },
      {
        name: 'an earlier time replaces a later pending one, and the later one never fires',
        steps: [
          addAfter('a', 500),
          tick(100),
          addAfter('a', 100),
          expect({ timers: 1 }),
          tick(99),
          expect({ depth: 0 }),
          tick(1),
          expect({ depth: 1 }),
          next('a'),
          done('a'),
          tick(1000),
          expect({ depth: 0, has: { a: false } }),
        ],
      },
      {
        name: 'a later time leaves the earlier pending one in place',
        steps: [
          addAfter('a', 100),
          tick(50),
          addAfter('a', 500),
          expect({ timers: 1 }),
          tick(50),
          expect({ depth: 1 }),
          next('a'),
          done('a'),
          tick(1000),
          expect({ depth: 0, has: { a: false } }),
        ],
      },
      {
        name: 'the same due time is not scheduled twice',
        steps: [
          addAfter('a', 100),
          addAfter('a', 100),
          expect({ timers: 1 }),
          tick(100),
          expect({ depth: 1 }),
        ],
      },
      {
        name: 'a rate-limited retry keeps an earlier pending addAfter',
        steps: [
          addAfter('a', 50),
          addRateLimited('a', 100),
          tick(50),
          expect({ depth: 1, retrying: { a: false } }),
        ],
      },
      {
        name: 'zero or a negative delay adds at once',
        steps: [addAfter('a', 0), addAfter('b', -5), expect({ depth: 2, timers: 0, retrying: { a: false } })],
      },
      {
        name: 'a pending key wakes a waiting worker when it falls due',
        steps: [next(WAITING), addAfter('a', 10), tick(10), woken('a')],
      },
      {
        name: 'keys fall due in the order of their times, not of the calls',
        steps: [addAfter('late', 30), addAfter('early', 10), tick(30), next('early'), next('late')],
      },
    ]);
  });

  describe('shutDown', () => {
    table([
      {
        name: 'wakes every waiting worker with undefined',
        steps: [next(WAITING), next(WAITING), shutDown, woken(undefined), woken(undefined)],
      },
      {
        name: 'a worker asking afterwards gets undefined at once',
        steps: [shutDown, next(undefined)],
      },
      {
        name: 'drops pending retries and clears their timers',
        steps: [
          add('a'),
          next('a'),
          addRateLimited('a', 100),
          addAfter('b', 100),
          done('a'),
          shutDown,
          expect({ has: { a: false, b: false }, retrying: { a: false, b: false }, timers: 0 }),
          tick(1000),
          expect({ depth: 0 }),
          next(undefined),
        ],
      },
      {
        name: 'ignores keys added afterwards, at once or later',
        steps: [
          shutDown,
          add('a'),
          addAfter('b', 10),
          addRateLimited('c', 100),
          tick(1000),
          expect({ depth: 0, has: { a: false, b: false, c: false }, timers: 0 }),
        ],
      },
      {
        name: 'a key re-added while processing is not queued again when done comes after shutDown',
        steps: [add('a'), next('a'), add('a'), shutDown, done('a'), expect({ depth: 0, has: { a: false } })],
      },
    ]);

    it('reports that it is shutting down', () => {
      const queue = new WorkQueue(new ManualClock(), OPTIONS);
      assert.equal(queue.isShuttingDown, false);
      queue.shutDown();
      assert.equal(queue.isShuttingDown, true);
    });

    // BUG: shutDown is documented as "Stops handing out keys" and next() as "resolves undefined once
    // the queue shuts down", but next() still hands out keys queued before shutDown. FunctionController
    // calls shutDown from stoppedLeading, so a replica that has just lost the Lease goes on reconciling
    // (writing to the cluster) every key left in the old term's queue, alongside the new leader, and
    // stop() waits for that whole backlog instead of only the reconciles in flight.
    it('hands out no queued key once shut down', () =>
      run([add('a'), add('b'), shutDown, next(undefined), next(undefined)]));
  });
});
