import assert from 'node:assert/strict';
import { ReportError, parseReport } from '../src/autoscale/report-endpoint.js';

describe('parseReport: a gateway concurrency report, checked', () => {
  it('takes a good report, stamped with the time it arrived', () => {
    const report = parseReport({ reporter: 'gw-a', functions: { 'd/f': { inflight: 2, held: 1 } } }, 1234);
    assert.deepEqual(report, { reporter: 'gw-a', at: 1234, functions: { 'd/f': { inflight: 2, held: 1 } } });
  });

  const refused: [string, unknown, string][] = [
    ['not an object', [1, 2], 'body'],
    ['no reporter', { functions: {} }, 'reporter'],
    ['an empty reporter', { reporter: '', functions: {} }, 'reporter'],
    ['a reporter name too long', { reporter: 'x'.repeat(254), functions: {} }, 'reporter'],
    ['functions as a list', { reporter: 'gw', functions: [] }, 'functions'],
    [
      'a negative count',
      { reporter: 'gw', functions: { 'd/f': { inflight: -1, held: 0 } } },
      'functions["d/f"].inflight',
    ],
    [
      'a fractional count',
      { reporter: 'gw', functions: { 'd/f': { inflight: 1, held: 0.5 } } },
      'functions["d/f"].held',
    ],
    [
      'a count as text',
      { reporter: 'gw', functions: { 'd/f': { inflight: '3', held: 0 } } },
      'functions["d/f"].inflight',
    ],
    [
      'a function without counts',
      { reporter: 'gw', functions: { 'd/f': null } },
      'functions["d/f"].inflight',
    ],
  ];
  for (const [what, body, field] of refused) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.throws(
        () => parseReport(body, 0),
        (err: unknown) => err instanceof ReportError && err.field === field,
      );
    });
  }
});
