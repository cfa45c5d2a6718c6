import assert from 'node:assert/strict';
import {
  type ConcurrencyReport,
  REPORT_TTL_MS,
  concurrencySample,
  freshReports,
  withReport,
} from '../src/autoscale/reports.js';

const report = (
  reporter: string,
  at: number,
  functions: Record<string, { inflight: number; held: number }>,
): ConcurrencyReport => ({ reporter, at, functions });

describe('concurrency reports from the gateways', () => {
  const cases: {
    name: string;
    reports: ConcurrencyReport[];
    now: number;
    key: string;
    expected: number | undefined;
  }[] = [
    {
      name: 'sums what two gateways have in flight and hold',
      reports: [
        report('gw-a', 1000, { 'd/f': { inflight: 3, held: 1 } }),
        report('gw-b', 1200, { 'd/f': { inflight: 2, held: 0 } }),
      ],
      now: 1500,
      key: 'd/f',
      expected: 6,
    },
    {
      name: 'a later report from a gateway replaces its earlier one',
      reports: [
        report('gw-a', 1000, { 'd/f': { inflight: 9, held: 0 } }),
        report('gw-a', 2000, { 'd/f': { inflight: 1, held: 0 } }),
      ],
      now: 2100,
      key: 'd/f',
      expected: 1,
    },
    {
      name: 'a gateway silent for longer than the TTL ages out',
      reports: [
        report('gw-a', 0, { 'd/f': { inflight: 5, held: 0 } }),
        report('gw-b', 4000, { 'd/f': { inflight: 2, held: 0 } }),
      ],
      now: 4000,
      key: 'd/f',
      expected: 2,
    },
    {
      name: 'a report exactly at the TTL still counts',
      reports: [report('gw-a', 1000, { 'd/f': { inflight: 4, held: 0 } })],
      now: 1000 + REPORT_TTL_MS,
      key: 'd/f',
      expected: 4,
    },
    {
      name: 'zero reported is zero, not missing',
      reports: [report('gw-a', 1000, { 'd/f': { inflight: 0, held: 0 } })],
      now: 1100,
      key: 'd/f',
      expected: 0,
    },
    {
      name: 'a function no fresh report names has no sample',
      reports: [report('gw-a', 1000, { 'd/other': { inflight: 3, held: 0 } })],
      now: 1100,
      key: 'd/f',
      expected: undefined,
    },
    {
      name: 'every gateway silent: no sample, so the decider keeps the replicas',
      reports: [report('gw-a', 0, { 'd/f': { inflight: 3, held: 0 } })],
      now: 10_000,
      key: 'd/f',
      expected: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      let reports = new Map<string, ConcurrencyReport>();
      for (const r of c.reports) reports = withReport(reports, r);
      const sample = concurrencySample(reports, c.key, c.now);
      assert.equal(sample?.concurrency, c.expected);
      if (sample !== undefined) assert.equal(sample.at, c.now);
    });
  }

  it('drops stale reports and keeps fresh ones', () => {
    let reports = new Map<string, ConcurrencyReport>();
    reports = withReport(reports, report('old', 0, {}));
    reports = withReport(reports, report('new', 5000, {}));
    assert.deepEqual([...freshReports(reports, 6000).keys()], ['new']);
    assert.equal(reports.size, 2, 'pure: the map given is not changed');
  });
});
