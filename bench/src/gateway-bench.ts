import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import {
  GATEWAY_TARGETS,
  type GatewaySummary,
  type Measurement,
  ROUTED_FUNCTIONS,
  TRACED_SAMPLE_RATIO,
  type TargetId,
  summarizeGateway,
} from './gateway-summary.js';
import { writeHelloFunction } from './hello-function.js';
import { probe } from './http-probe.js';
import { OtlpSink } from './otlp-sink.js';
import { cpuSeconds } from './proc-stats.js';
import type { Children } from './processes.js';
import {
  type RunningServer,
  bareServer,
  minimalProxy,
  runtimeReplica,
  startServer,
  staticGateway,
} from './servers.js';
import { askStalls } from './stall-monitor.js';
import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';
import { type WrkLoad, ensureWrk, runWrk } from './wrk.js';

interface Target {
  readonly id: TargetId;
  readonly label: string;
  readonly url: string;
  /** What a GET must answer before any load is sent, so a misrouted target is never measured. */
  readonly expectBody: string;
  /** The proxy in front of the replica (the gateway or the minimal one): its CPU time is counted. */
  readonly front?: RunningServer;
  /** The front is the gateway, which also reports its event-loop stalls and GC pauses. */
  readonly reportsStalls?: boolean;
  readonly replica?: RunningServer;
}

/** wrk threads per connection count. */
const LOADS = [
  { connections: 1, threads: 1 },
  { connections: 32, threads: 2 },
] as const;
/** Seconds per run; NIMBUS_BENCH_WARM_UP_S and NIMBUS_BENCH_MEASURE_S shorten them for a quick look. */
const WARM_UP_S = secondsFrom(process.env.NIMBUS_BENCH_WARM_UP_S, 2);
const MEASURE_S = secondsFrom(process.env.NIMBUS_BENCH_MEASURE_S, 8);

function secondsFrom(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 60)
    throw new Error(`seconds must be 1-60, not ${raw}`);
  return value;
}

async function startTargets(children: Children, functionDir: string, sink: OtlpSink): Promise<Target[]> {
  const bare = await startServer(children, bareServer(0));
  const replica = await startServer(children, runtimeReplica(functionDir, 0));
  const gateway = await startServer(children, staticGateway(replica.port));
  const proxy = await startServer(children, minimalProxy(replica.port));
  const traced = await startServer(
    children,
    staticGateway(replica.port, {
      NIMBUS_TRACING_ENDPOINT: sink.url,
      NIMBUS_TRACING_SAMPLE_RATIO: String(TRACED_SAMPLE_RATIO),
    }),
  );
  const routed = await startServer(
    children,
    staticGateway(replica.port, {}, { functions: ROUTED_FUNCTIONS, routes: true }),
  );
  const many = await startServer(
    children,
    staticGateway(replica.port, {}, { functions: ROUTED_FUNCTIONS, routes: false }),
  );
  // Both versions of hello on the one replica c has: i against c is what picking a version costs
  // and nothing else (a replica of its own for v2 would also change how the load falls on the
  // replicas: 90 % on one of two is slower than c's one, and than two balanced).
  const versioned = await startServer(
    children,
    staticGateway(replica.port, {}, { functions: 0, routes: false }, replica.port),
  );
  const base = (port: number) => `http://127.0.0.1:${port}`;
  return [
    { id: 'a', label: 'a: bare node:http', url: `${base(bare.port)}/`, expectBody: 'ok' },
    {
      id: 'b',
      label: 'b: runtime replica',
      url: `${base(replica.port)}/?name=Ada`,
      expectBody: 'Hello, Ada!\n',
      replica,
    },
    {
      id: 'c',
      label: 'c: gateway → replica',
      url: `${base(gateway.port)}/function/hello?name=Ada`,
      expectBody: 'Hello, Ada!\n',
      front: gateway,
      reportsStalls: true,
      replica,
    },
    {
      id: 'd',
      label: 'd: minimal Node proxy → replica',
      url: `${base(proxy.port)}/function/hello?name=Ada`,
      expectBody: 'Hello, Ada!\n',
      front: proxy,
      replica,
    },
    {
      id: 'e',
      label: `e: gateway, tracing at ${TRACED_SAMPLE_RATIO * 100}% → replica`,
      url: `${base(traced.port)}/function/hello?name=Ada`,
      expectBody: 'Hello, Ada!\n',
      front: traced,
      replica,
    },
    {
      id: 'f',
      label: `f: gateway with ${ROUTED_FUNCTIONS} routes, /function/hello → replica`,
      url: `${base(routed.port)}/function/hello?name=Ada`,
      expectBody: 'Hello, Ada!\n',
      front: routed,
      replica,
    },
    {
      id: 'g',
      label: `g: gateway with ${ROUTED_FUNCTIONS} routes, /api/v1/hello/{who} → replica`,
      url: `${base(routed.port)}/api/v1/hello/Ada?name=Ada`,
      expectBody: 'Hello, Ada!\n',
      front: routed,
      replica,
    },
    {
      id: 'h',
      label: `h: gateway with ${ROUTED_FUNCTIONS} Functions, no routes, /function/hello → replica`,
      url: `${base(many.port)}/function/hello?name=Ada`,
      expectBody: 'Hello, Ada!\n',
      front: many,
      replica,
    },
    {
      id: 'i',
      label: 'i: gateway, hello 90/10 over two versions → the same replica',
      url: `${base(versioned.port)}/function/hello?name=Ada`,
      expectBody: 'Hello, Ada!\n',
      front: versioned,
      replica,
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
      measurements.push(await measured(children, target, { ...load, durationS: MEASURE_S }));
    }
  }
  return measurements;
}

/** One measured run, with the CPU each of our processes spent on it and the gateway's stalls. */
async function measured(children: Children, target: Target, load: WrkLoad): Promise<Measurement> {
  const cpu = (server: RunningServer | undefined) =>
    server?.child.pid === undefined ? Promise.resolve(undefined) : cpuSeconds(server.child.pid);
  const stallsOf = target.reportsStalls === true ? target.front?.child : undefined;
  if (stallsOf !== undefined) await askStalls(stallsOf, 'reset');
  const [frontBefore, replicaBefore] = await Promise.all([cpu(target.front), cpu(target.replica)]);
  const result = await runWrk(children, load);
  const [frontAfter, replicaAfter] = await Promise.all([cpu(target.front), cpu(target.replica)]);
  const stalls = stallsOf === undefined ? undefined : await askStalls(stallsOf, 'report');
  const perRequest = (before: number | undefined, after: number | undefined) =>
    before === undefined || after === undefined ? undefined : ((after - before) * 1e6) / result.requests;
  return {
    target: target.id,
    connections: load.connections,
    result,
    proxyCpuUsPerRequest: perRequest(frontBefore, frontAfter),
    replicaCpuUsPerRequest: perRequest(replicaBefore, replicaAfter),
    stalls,
  };
}

/** Calls sent to the versioned target before the load, to see its split: v2's share of them. */
const SPLIT_CALLS = 2000;

/** The share of SPLIT_CALLS calls that the gateway says v2 served (x-nimbus-version). */
async function versionShare(url: string): Promise<{ calls: number; v1: number; v2: number }> {
  const counts = { calls: 0, v1: 0, v2: 0 };
  for (let sent = 0; sent < SPLIT_CALLS; sent += 50) {
    const versions = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const reply = await fetch(url);
        await reply.arrayBuffer();
        return reply.headers.get('x-nimbus-version');
      }),
    );
    for (const v of versions) {
      counts.calls++;
      if (v === 'v1') counts.v1++;
      else if (v === 'v2') counts.v2++;
    }
  }
  return counts;
}

const labelOf = (targets: readonly Target[], id: TargetId) => targets.find((t) => t.id === id)?.label ?? id;

const optional = (value: number | undefined, digits: number) =>
  value === undefined ? '' : formatNumber(value, digits);

function render(targets: readonly Target[], measurements: readonly Measurement[], s: GatewaySummary): string {
  const results = formatTable(
    [
      { title: 'target', align: 'left' },
      { title: 'conns', align: 'right' },
      { title: 'req/s', align: 'right' },
      { title: 'p50 µs', align: 'right' },
      { title: 'p99 µs', align: 'right' },
      { title: 'proxy CPU µs/req', align: 'right' },
      { title: 'replica CPU µs/req', align: 'right' },
    ],
    measurements.map((m) => [
      labelOf(targets, m.target),
      String(m.connections),
      formatNumber(m.result.requestsPerSecond, 0),
      formatNumber(m.result.p50Us, 0),
      formatNumber(m.result.p99Us, 0),
      optional(m.proxyCpuUsPerRequest, 1),
      optional(m.replicaCpuUsPerRequest, 1),
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
    ['d/a req/s, 32 conns (the floor for a Node proxy)', formatNumber(s.ratio_d_a_32, 3), '', ''],
    ['c/d req/s, 32 conns (the gateway against it)', formatNumber(s.ratio_c_d_32, 3), '', ''],
    ['added p50 µs (c − d), 1 conn', formatNumber(s.added_p50_us_1_over_minimal_proxy, 0), '', ''],
    [
      'added p50 µs (c − b), 1 conn',
      formatNumber(s.added_p50_us_1, 0),
      `≤ ${GATEWAY_TARGETS.maxAddedP50Us1}`,
      verdict(s.pass_added_p50_us_1),
    ],
    ['added p50 µs (c − a), 1 conn', formatNumber(s.added_p50_us_1_over_bare, 0), '', ''],
    [
      'p99 c/b, 32 conns',
      formatNumber(s.p99_ratio_c_b_32, 2),
      `≤ ${GATEWAY_TARGETS.maxP99RatioCB32}`,
      verdict(s.pass_p99_ratio_c_b_32),
    ],
    ['e/c req/s, 1 conn (tracing at 10%)', formatNumber(s.ratio_e_c_1, 3), '', ''],
    ['e/c req/s, 32 conns (tracing at 10%)', formatNumber(s.ratio_e_c_32, 3), '', ''],
    ['added p50 µs (e − c), 1 conn (tracing at 10%)', formatNumber(s.added_p50_us_1_traced, 0), '', ''],
    [
      'gateway CPU µs/req, 32 conns: tracing off / at 10%',
      `${optional(s.gateway_cpu_us_per_request_32, 1)} / ${optional(s.traced_gateway_cpu_us_per_request_32, 1)}`,
      '',
      '',
    ],
    [
      'f/c and g/c req/s, 1 conn (5,000 routes over none)',
      `${formatNumber(s.ratio_f_c_1, 3)} / ${formatNumber(s.ratio_g_c_1, 3)}`,
      '',
      '',
    ],
    [
      'f/c and g/c req/s, 32 conns (5,000 routes over none)',
      `${formatNumber(s.ratio_f_c_32, 3)} / ${formatNumber(s.ratio_g_c_32, 3)}`,
      '',
      '',
    ],
    [
      'f/h and g/h req/s, 1 conn (routes over as many Functions without)',
      `${formatNumber(s.ratio_f_h_1, 3)} / ${formatNumber(s.ratio_g_h_1, 3)}`,
      '',
      '',
    ],
    [
      'f/h and g/h req/s, 32 conns (routes over as many Functions without)',
      `${formatNumber(s.ratio_f_h_32, 3)} / ${formatNumber(s.ratio_g_h_32, 3)}`,
      `≥ ${GATEWAY_TARGETS.minRatioRoutes}`,
      verdict(s.pass_ratio_routes_32),
    ],
    ['h/c req/s, 32 conns (5,000 Functions over one)', formatNumber(s.ratio_h_c_32, 3), '', ''],
    [
      'i/c req/s, 1 and 32 conns (versions 90/10 over the plain path, one replica)',
      `${formatNumber(s.ratio_i_c_1, 3)} / ${formatNumber(s.ratio_i_c_32, 3)}`,
      '≥ 0.95',
      verdict(s.pass_ratio_versions_32),
    ],
    ['added p50 µs (i − c), 1 conn (picking a version)', formatNumber(s.added_p50_us_1_versions, 0), '', ''],
    [
      'gateway CPU µs/req, 32 conns: c / i',
      `${optional(s.gateway_cpu_us_per_request_32, 1)} / ${optional(s.versions_cpu_us_per_request_32, 1)}`,
      '',
      '',
    ],
    [
      'gateway CPU µs/req, 32 conns: h / f / g (steadier than req/s on a busy machine)',
      `${optional(s.no_routes_cpu_us_per_request_32, 1)} / ${optional(s.routes_plain_cpu_us_per_request_32, 1)} / ${optional(s.route_hit_cpu_us_per_request_32, 1)}`,
      '',
      '',
    ],
    [
      'added p50 µs (g − f), 1 conn (a route hit over /function/)',
      formatNumber(s.added_p50_us_1_routed, 0),
      '',
      '',
    ],
    [
      'gateway loop delay p99 / max ms, 32 conns',
      `${optional(s.loop_delay_p99_ms_32, 2)} / ${optional(s.loop_delay_max_ms_32, 2)}`,
      '',
      '',
    ],
    [
      'gateway longest stall or GC pause ms, 32 conns',
      formatNumber(Math.max(s.loop_delay_max_ms_32 ?? Number.NaN, s.gc_max_ms_32 ?? Number.NaN), 2),
      `≤ ${GATEWAY_TARGETS.maxStallMs}`,
      verdict(s.pass_stalls_32),
    ],
  ]);
  return `${results}\n\n${ratios}`;
}

async function run(children: Children): Promise<BenchReport> {
  await ensureWrk(children, 90_000);
  const fn = await writeHelloFunction();
  const sink = await OtlpSink.start();
  try {
    const targets = await startTargets(children, fn.dir, sink);
    await checkAnswers(targets);
    const split = await versionShare(targets.find((t) => t.id === 'i')?.url as string);
    if (split.v1 + split.v2 !== split.calls)
      throw new Error(
        `the versioned target answered ${split.calls - split.v1 - split.v2} calls without a version`,
      );
    const measurements = await measure(children, targets);
    const summary = summarizeGateway(measurements);
    const splitLine = `i's split over ${split.calls} calls: v1 ${formatNumber((100 * split.v1) / split.calls, 1)} %, v2 ${formatNumber((100 * split.v2) / split.calls, 1)} % (asked 90/10)`;
    const exported = sink.received();
    // A traced gateway that exported nothing measured nothing of tracing's cost.
    if (exported.exports === 0) throw new Error('the traced gateway (e) sent no spans to the OTLP sink');
    return {
      text: `${render(targets, measurements, summary)}\n\n${splitLine}\ne's spans: ${exported.exports} OTLP exports, ${formatNumber(exported.bytes / 1024, 0)} KiB`,
      result: {
        ...summary,
        versionSplit: { asked: { v1: 90, v2: 10 }, ...split },
        tracedSampleRatio: TRACED_SAMPLE_RATIO,
        tracedExports: exported,
        targets: GATEWAY_TARGETS,
        warmUpSeconds: WARM_UP_S,
        measuredSeconds: MEASURE_S,
        table: measurements.map((m) => ({
          target: m.target,
          label: labelOf(targets, m.target),
          connections: m.connections,
          threads: LOADS.find((l) => l.connections === m.connections)?.threads,
          ...m.result,
          proxyCpuUsPerRequest: m.proxyCpuUsPerRequest,
          replicaCpuUsPerRequest: m.replicaCpuUsPerRequest,
          stalls: m.stalls,
        })),
      },
    };
  } finally {
    await children.stopAll();
    await sink.stop();
    await fn.remove();
  }
}

export const gatewayBenchmark: Benchmark = {
  name: 'gateway',
  description:
    'req/s, latency and CPU of bare node:http, a runtime replica, the gateway in front of it (tracing off, and on at 10%; with 5,000 routes, plain and routed; a Function split 90/10 over two versions) and a minimal Node proxy (wrk)',
  limitMs: 360_000,
  run,
};
