import assert from 'node:assert/strict';
import { parseDuration } from '../src/duration.js';
import { parseFunctionRef } from '../src/names.js';

describe('parseFunctionRef', () => {
  const cases: [string, { name: string; namespace: string } | undefined][] = [
    ['hello', { name: 'hello', namespace: 'default' }],
    ['hello.team-a', { name: 'hello', namespace: 'team-a' }],
    ['hello-2', { name: 'hello-2', namespace: 'default' }],
    ['Hello', undefined],
    ['', undefined],
    ['..', undefined],
    ['.default', undefined],
    ['hello.', undefined],
    ['hello.a.b', undefined],
    ['%2e%2e', undefined],
    ['he\u0000llo', undefined],
    ['1hello', undefined],
    ['a'.repeat(64), undefined],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseFunctionRef(input), expected);
    });
  }
});

describe('parseDuration', () => {
  const cases: [string, number][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['2h', 7_200_000],
  ];
  for (const [input, ms] of cases) {
    it(`${input} is ${ms} ms`, () => assert.equal(parseDuration(input), ms));
  }
  for (const bad of ['', '30', 's', '-1s', '1 s', '1d']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseDuration(bad), /not a duration/));
  }
});
