import assert from 'node:assert/strict';
import { ReplyError } from 'ioredis';
import { StateUnavailableError, StoreCommandError, StoreUnavailableError } from '../src/errors.js';
import { reconnectDelay, withoutCredentials } from '../src/redis/connection.js';
import { toStoreError } from '../src/redis/errors.js';

const reply = (message: string): Error => new (ReplyError as new (m: string) => Error)(message);

describe('toStoreError', () => {
  const cases: [string, unknown, typeof StoreUnavailableError | typeof StoreCommandError | undefined][] = [
    ['a closed connection', new Error('Connection is closed.'), StoreUnavailableError],
    [
      'no offline queue',
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      StoreUnavailableError,
    ],
    ['a command timeout', new Error('Command timed out'), StoreUnavailableError],
    [
      'a refused connect',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      StoreUnavailableError,
    ],
    ['LOADING', reply('LOADING Redis is loading the dataset in memory'), StoreUnavailableError],
    ['a busy script', reply('BUSY Redis is busy running a script'), StoreUnavailableError],
    ['a replica', reply("READONLY You can't write against a read only replica."), StoreUnavailableError],
    [
      'a refused login',
      reply('WRONGPASS invalid username-password pair or user is disabled.'),
      StoreUnavailableError,
    ],
    ['NOPERM', reply('NOPERM this user has no permissions to access one of the keys'), StoreCommandError],
    [
      'WRONGTYPE',
      reply('WRONGTYPE Operation against a key holding the wrong kind of value'),
      StoreCommandError,
    ],
    [
      'a script error',
      reply('ERR user_script:1: Script attempted to access nonexistent global variable'),
      StoreCommandError,
    ],
  ];
  for (const [what, err, expected] of cases) {
    it(`makes ${what} a ${expected?.name}, with the cause attached`, () => {
      const mapped = toStoreError(err, 'reading x');
      assert.ok(expected && mapped instanceof expected, `${mapped.name}: ${mapped.message}`);
      assert.equal(mapped.cause, err);
      assert.match(mapped.message, /^reading x: /);
    });
  }

  it('uses the class it is given for unavailability, and names the connection error', () => {
    const mapped = toStoreError(
      new Error('Reached the max retries'),
      'state get',
      StateUnavailableError,
      new Error('WRONGPASS'),
    );
    assert.ok(mapped instanceof StateUnavailableError);
    assert.match(mapped.message, /max retries; WRONGPASS/);
  });

  it('passes programming errors through untouched', () => {
    const bug = new TypeError('x is not a function');
    assert.equal(toStoreError(bug, 'op'), bug);
  });
});

describe('reconnectDelay', () => {
  it('doubles from 50 ms up to the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 100].map((n) => reconnectDelay(n, 1_000)),
      [50, 100, 200, 400, 800, 1_000, 1_000],
    );
  });
});

describe('withoutCredentials', () => {
  it("drops the URL's user and password when the options bring their own", () => {
    assert.equal(withoutCredentials('redis://admin:pw@h:6379/2', 'fn', 'x'), 'redis://h:6379/2');
    assert.equal(withoutCredentials('redis://:pw@h:6379', undefined, 'x'), 'redis://h:6379');
  });

  it('leaves the URL alone otherwise', () => {
    assert.equal(withoutCredentials('redis://admin:pw@h:6379'), 'redis://admin:pw@h:6379');
  });
});
