import assert from 'node:assert/strict';
import { createUuidGenerator } from '../src/invoke/random-uuid.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('createUuidGenerator', () => {
  it('produces distinct version-4 UUIDs from the system source', () => {
    const next = createUuidGenerator();
    const ids = new Set(Array.from({ length: 600 }, () => next()));
    assert.equal(ids.size, 600);
    for (const id of ids) assert.match(id, V4);
  });

  it('sets the version and variant bits whatever the source gives', () => {
    const next = createUuidGenerator((target) => target.fill(0xff));
    assert.equal(next(), 'ffffffff-ffff-4fff-bfff-ffffffffffff');
    const zeros = createUuidGenerator((target) => target.fill(0));
    assert.equal(zeros(), '00000000-0000-4000-8000-000000000000');
  });

  it('refills its pool after 256 ids', () => {
    let fills = 0;
    const next = createUuidGenerator((target) => {
      fills += 1;
      target.fill(fills);
    });
    for (let i = 0; i < 256; i++) next();
    assert.equal(fills, 1);
    assert.match(next(), /^02020202-/);
    assert.equal(fills, 2);
  });
});
