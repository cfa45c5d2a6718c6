import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import {
  GATEWAY_TARGETS,
  type GatewaySummary,
  type Measurement,
  type TargetId,
  summarizeGateway,
} from './gateway-summary.js';
import { writeHelloFunction } from './hello-function.js';
import { probe } from './http-probe.js';
import type { Children } from './processes.js';
import { bareServer, runtimeReplica, startServer, staticGateway } from './servers.js';
import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';
import { ensureWrk, runWrk } from './wrk.js';

interface Target {
  readonly id: TargetId;
  readonly label: string;
  readonly url: string;
  /** What a GET must answer before any load is sent, so a misrouted target is never measured. */
  readonly expectBody: string;
}

/** wrk threads per connection count. */
const LOADS = [
  { connections: 1, threads: 1 },
  { connections: 32, threads: 2 },
] as const;
const WARM_UP_S = 2;
const MEASURE_S = 8;

async function startTargets(children: Children, functionDir: string): Promise<Target[]> {
  const bare = await startServer(children, bareServer(0));
  const replica = await startServer(children, runtimeReplica(functionDir, 0));
  const gateway = await startServer(children, staticGateway(replica.port));
  const base = (port: number) => `http://127.0.0.1:${port}`;
  return [
    { id: 'a', label: 'a: bare node:http', url: `${base(bare.port)}/`, expectBody: 'ok' },
    {
      id: 'b',
      label: 'b: runtime replica',
      url: `${base(replica.port)}/?name=Ada`,
      expectBody: 'Hello, Ada!\n',
    },
    {
      id: 'c',
      label: 'c: gateway → replica',
      url: `${base(gateway.port)}/function/hello?name=Ada`,
      expectBody: 'Hello, Ada!\n',
    },
  ];
}

async function checkAnswers(targets: readonly Target[]): Promise<void> {
  for (const target of targets) {
    const reply = await probe(target.url, 5_000);
    if (reply.status !== 200 || reply.body !== target.expectBody) {
      throw new Error(
        `${target.label} answered ${reply.status} ${JSON.stringify(reply.body)} to GET ${target.url}`,
      );
    }
  }
}

async function measure(children: Children, targets: readonly Target[]): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  for (const { connections, threads } of LOADS) {
    for (const target of targets) {
      progress(
        `${target.label}, ${connections} connection(s): ${WARM_UP_S} s warm-up, ${MEASURE_S} s measured`,
      );
      const load = { url: target.url, threads, connections };
      await runWrk(children, { ...load, durationS: WARM_UP_S });
      const result = await runWrk(children, { ...load, durationS: MEASURE_S });
      measurements.push({ target: target.id, connections, result });
    }
  }
  return measurements;
}

const labelOf = (targets: readonly Target[], id: TargetId) => targets.find((t) => t.id === id)?.label ?? id;

function render(targets: readonly Target[], measurements: readonly Measurement[], s: GatewaySummary): string {
  const results = formatTable(
    [
      { title: 'target', align: 'left' },
      { title: 'conns', align: 'right' },
      { title: 'req/s', align: 'right' },
      { title: 'p50 µs', align: 'right' },
      { title: 'p99 µs', align: 'right' },
    ],
    measurements.map((m) => [
      labelOf(targets, m.target),
      String(m.connections),
      formatNumber(m.result.requestsPerSecond, 0),
      formatNumber(m.result.p50Us, 0),
      formatNumber(m.result.p99Us, 0),
    ]),
  );
  const ratios = formatTable(VERDICT_COLUMNS, [
    ['c/a req/s, 1 conn', formatNumber(s.ratio_c_a_1, 3), '', ''],
    ['c/b req/s, 1 conn', formatNumber(s.ratio_c_b_1, 3), '', ''],
    [
      'c/a req/s, 32 conns',
      formatNumber(s.ratio_c_a_32, 3),
      `≥ ${GATEWAY_TARGETS.minRatioCA32}`,
      verdict(s.pass_ratio_c_a_32),
    ],
    ['c/b req/s, 32 conns', formatNumber(s.ratio_c_b_32, 3), '', ''],
    [
      'added p50 µs (c − a), 1 conn',
      formatNumber(s.added_p50_us_1, 0),
      `≤ ${GATEWAY_TARGETS.maxAddedP50Us1}`,
      verdict(s.pass_added_p50_us_1),
    ],
  ]);
  return `${results}\n\n${ratios}`;
}

async function run(children: Children): Promise<BenchReport> {
  await ensureWrk(children, 90_000);
  const fn = await writeHelloFunction();
  try {
    const targets = await startTargets(children, fn.dir);
    await checkAnswers(targets);
    const measurements = await measure(children, targets);
    const summary = summarizeGateway(measurements);
    return {
      text: render(targets, measurements, summary),
      result: {
        ...summary,
        targets: GATEWAY_TARGETS,
        warmUpSeconds: WARM_UP_S,
        measuredSeconds: MEASURE_S,
        table: measurements.map((m) => ({
          target: m.target,
          label: labelOf(targets, m.target),
          connections: m.connections,
          threads: LOADS.find((l) => l.connections === m.connections)?.threads,
          ...m.result,
        })),
      },
    };
  } finally {
    await children.stopAll();
    await fn.remove();
  }
}

export const gatewayBenchmark: Benchmark = {
  name: 'gateway',
  description: 'req/s and latency of bare node:http, a runtime replica, and the gateway in front of it (wrk)',
  limitMs: 150_000,
  run,
};
