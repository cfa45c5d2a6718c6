import assert from 'node:assert/strict';
import { TrafficSplit, unitOf } from '../src/traffic.js';

describe('TrafficSplit: which version serves a call', () => {
  const canary = new TrafficSplit([
    { version: 'v3', percent: 90, tag: 'stable' },
    { version: 'v4', percent: 10, tag: 'canary' },
    { version: 'v5', percent: 0, tag: 'next' },
  ]);

  it('gives each version the part of [0, 1) its percent says, in entry order', () => {
    assert.equal(canary.pick(0), 'v3');
    assert.equal(canary.pick(0.8999), 'v3');
    assert.equal(canary.pick(0.9), 'v4');
    assert.equal(canary.pick(0.9999999), 'v4');
  });

  it('never picks a zero-percent version, but reaches it by its tag or a pin', () => {
    for (let i = 0; i < 1000; i++) assert.notEqual(canary.pick(i / 1000), 'v5');
    assert.equal(canary.tagged('next'), 'v5');
    assert.equal(canary.pinned('next'), 'v5');
    assert.equal(canary.pinned('v5'), 'v5');
  });

  it('refuses a pin or tag to a version the split does not name: old code stays out of reach', () => {
    assert.equal(canary.pinned('v2'), undefined);
    assert.equal(canary.pinned('v1'), undefined);
    assert.equal(canary.pinned('__proto__'), undefined);
    assert.equal(canary.tagged('v3'), undefined, 'a tag is not a version name');
    assert.equal(canary.reaches('v2'), false);
  });

  it('sends every attempt of one call to one version, and 90/10 of many calls', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const id = `call-${i}`;
      const version = canary.pick(unitOf(id));
      assert.equal(canary.pick(unitOf(id)), version);
      counts.set(version, (counts.get(version) ?? 0) + 1);
    }
    const share = (counts.get('v4') ?? 0) / 20_000;
    assert.ok(share > 0.09 && share < 0.11, `v4 took ${share} of the calls`);
  });

  it('adds up the shares of a version named twice', () => {
    const split = new TrafficSplit([
      { version: 'v2', percent: 50 },
      { version: 'v2', percent: 25, tag: 'latest' },
      { version: 'v1', percent: 25 },
    ]);
    assert.deepEqual(
      [...split.shares()],
      [
        ['v2', 75],
        ['v1', 25],
      ],
    );
    assert.equal(TrafficSplit.all('v7').pick(0.5), 'v7');
  });

  const refused: [string, { version: string; percent: number; tag?: string }[], RegExp][] = [
    ['percents short of 100', [{ version: 'v1', percent: 90 }], /add up to 90/],
    [
      'percents over 100',
      [
        { version: 'v1', percent: 90 },
        { version: 'v2', percent: 20 },
      ],
      /add up to 110/,
    ],
    ['a fraction', [{ version: 'v1', percent: 99.5 }], /whole number/],
    ['a negative share', [{ version: 'v1', percent: -1 }], /whole number/],
    ['not a version name', [{ version: 'latest', percent: 100 }], /names no version/],
    [
      'a tag twice',
      [
        { version: 'v1', percent: 50, tag: 'a' },
        { version: 'v2', percent: 50, tag: 'a' },
      ],
      /tag a is given twice/,
    ],
    ['no entries', [], /add up to 0/],
  ];
  for (const [name, entries, message] of refused) {
    it(`refuses a split with ${name}`, () => {
      assert.throws(() => new TrafficSplit(entries), message);
    });
  }
});

describe('unitOf', () => {
  it('stays in [0, 1) and spreads ids that differ in one character', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const u = unitOf(`evt-${i}`);
      assert.ok(u >= 0 && u < 1);
      seen.add(Math.floor(u * 10));
    }
    assert.equal(seen.size, 10, 'every tenth of [0, 1) is hit');
    assert.equal(unitOf(''), 0x811c9dc5 / 0x1_0000_0000);
  });
});
