import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { type NatsServer, type RedisServer, startNatsServer, startRedisServer } from '@nimbus/testkit';
import { type Sent, sendCalls } from './async-load.js';
import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import { writeHelloFunction } from './hello-function.js';
import { cpuSeconds } from './proc-stats.js';
import { type Children, cpuProfileFlags, stopGently } from './processes.js';
import { type ServerCommand, runtimeReplica, startServer } from './servers.js';
import { percentile } from './stats.js';
import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';

const CALLS = 10_000;
const WARM_UP_CALLS = 500;
/** Requests in flight at the gateway while sending. */
const SENDERS = 64;
/** The paced phase: calls offered at a steady rate the gateway can keep up with, for the wait a call sees. */
const PACED_CALLS = 5_000;
const PACED_RATE_PER_S = 1_000;
const REPLICAS = 2;
const ADMIN_KEY = 'bench-admin-key-0123456789';
/** After the last call is accepted, all must be done within this, or the rest count as lost. */
const COMPLETION_DEADLINE_MS = 120_000;
const POLL_MS = 50;
export const ASYNC_TARGETS = {
  minAcceptedPerS: 2_000,
  minCompletedPerS: 3_000,
  maxLost: 0,
  /** Queue wait p50 of calls offered at PACED_RATE_PER_S, in ms, under. */
  maxPacedWaitP50Ms: 200,
} as const;

function asyncGateway(replicaPorts: readonly number[], redisUrl: string, natsUrl: string): ServerCommand {
  return {
    name: 'gateway',
    args: [
      ...cpuProfileFlags(),
      fileURLToPath(new URL('./gateway-static.js', import.meta.url)),
      ...replicaPorts.map(String),
    ],
    env: { NIMBUS_REDIS_URL: redisUrl, NIMBUS_NATS_URL: natsUrl, NIMBUS_API_KEYS: `admin:${ADMIN_KEY}` },
    saysReady: false,
  };
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request over the kept-alive `agent`; rejects on a socket error or after 30 s. */
function call(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The gateway's count of calls that reached an outcome: [completed, failed]. */
async function outcomes(agent: Agent, port: number): Promise<[number, number]> {
  const text = (await call(agent, port, 'GET', '/metrics', { authorization: `Bearer ${ADMIN_KEY}` })).body;
  const read = (name: string) =>
    Number(new RegExp(`^${name}\\{function="default/hello"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return [read('nimbus_async_calls_completed_total'), read('nimbus_async_calls_failed_total')];
}

/** Polls the gateway's counters until `target` calls have an outcome; the time it happened, or undefined at the deadline. */
async function doneAt(
  agent: Agent,
  port: number,
  baseline: [number, number],
  target: number,
  deadline: number,
): Promise<{ at: number | undefined; completed: number; failed: number }> {
  for (;;) {
    const [completed, failed] = await outcomes(agent, port);
    const now = performance.now();
    const c = completed - baseline[0];
    const f = failed - baseline[1];
    if (c + f >= target) return { at: now, completed: c, failed: f };
    if (now > deadline) return { at: undefined, completed: c, failed: f };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

interface CallView {
  status: string;
  timings: { waitMs?: number };
}

/** Reads every accepted call's record: the ones not succeeded are lost. */
async function audit(
  agent: Agent,
  port: number,
  ids: readonly string[],
): Promise<{ lost: number; waitsMs: number[] }> {
  let lost = 0;
  const waitsMs: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        const answer = await call(agent, port, 'GET', `/system/calls/${id}`, {
          authorization: `Bearer ${ADMIN_KEY}`,
        });
        const record = answer.status === 200 ? (JSON.parse(answer.body) as CallView) : undefined;
        if (record?.status !== 'succeeded') lost++;
        else if (record.timings.waitMs !== undefined) waitsMs.push(record.timings.waitMs);
      }
    }),
  );
  return { lost, waitsMs };
}

/** The first call the gateway takes and completes: the queue is connected and set up. */
async function queueReady(agent: Agent, port: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const answer = await call(agent, port, 'POST', '/async-function/hello', {}, 'ready?');
    if (answer.status === 202) return;
    if (performance.now() > deadline)
      throw new Error(`the gateway never took an async call: ${answer.status} ${answer.body}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(children: Children): Promise<BenchReport> {
  const fn = await writeHelloFunction();
  let redis: RedisServer | undefined;
  let nats: NatsServer | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 40 });
  try {
    progress('starting redis-server, nats-server, two runtime replicas and the gateway');
    [redis, nats] = await Promise.all([startRedisServer(), startNatsServer()]);
    const replicas = [];
    for (let i = 0; i < REPLICAS; i++) replicas.push(await startServer(children, runtimeReplica(fn.dir, 0)));
    const gateway = await startServer(
      children,
      asyncGateway(
        replicas.map((r) => r.port),
        redis.url,
        nats.url,
      ),
    );
    const port = gateway.port;
    await queueReady(agent, port);

    progress(`warm-up: ${WARM_UP_CALLS} calls`);
    const warmBaseline = await outcomes(agent, port);
    const warm = await sendCalls(port, WARM_UP_CALLS, SENDERS);
    await doneAt(agent, port, warmBaseline, warm.ids.length + 1, performance.now() + COMPLETION_DEADLINE_MS);

    progress(`measured: ${CALLS} calls, ${SENDERS} in flight at the gateway`);
    const baseline = await outcomes(agent, port);
    const gatewayPid = gateway.child.pid as number;
    const cpuBefore = await cpuSeconds(gatewayPid);
    const sent = await sendCalls(port, CALLS, SENDERS);
    const done = await doneAt(
      agent,
      port,
      baseline,
      sent.ids.length,
      sent.lastAcceptedAt + COMPLETION_DEADLINE_MS,
    );
    const gatewayCpuS = (await cpuSeconds(gatewayPid)) - cpuBefore;
    progress('reading every call record');
    const { lost, waitsMs } = await audit(agent, port, sent.ids);

    progress(`paced: ${PACED_CALLS} calls offered at ${PACED_RATE_PER_S}/s`);
    const pacedBaseline = await outcomes(agent, port);
    const paced = await sendCalls(port, PACED_CALLS, SENDERS, PACED_RATE_PER_S);
    const pacedDone = await doneAt(
      agent,
      port,
      pacedBaseline,
      paced.ids.length,
      paced.lastAcceptedAt + COMPLETION_DEADLINE_MS,
    );
    const pacedAudit = await audit(agent, port, paced.ids);
    if (cpuProfileFlags().length > 0) await stopGently(gateway.child);
    const pacedOfferedPerS = paced.ids.length / ((paced.lastAcceptedAt - paced.startedAt) / 1000);
    const pacedWaitP50 = pacedAudit.waitsMs.length > 0 ? percentile(pacedAudit.waitsMs, 50) : null;

    const acceptSeconds = (sent.lastAcceptedAt - sent.startedAt) / 1000;
    const completeSeconds = ((done.at ?? performance.now()) - sent.startedAt) / 1000;
    const acceptedPerS = sent.ids.length / acceptSeconds;
    const completedPerS = done.completed / completeSeconds;
    const summary = {
      calls: CALLS,
      accepted: sent.ids.length,
      refused: sent.refused,
      completed: done.completed,
      failed: done.failed,
      lost,
      accepted_per_s: acceptedPerS,
      completed_per_s: completedPerS,
      accept_seconds: acceptSeconds,
      complete_seconds: completeSeconds,
      accept_p50_ms: percentile(sent.acceptLatenciesMs, 50),
      accept_p99_ms: percentile(sent.acceptLatenciesMs, 99),
      queue_wait_p50_ms: waitsMs.length > 0 ? percentile(waitsMs, 50) : null,
      queue_wait_p99_ms: waitsMs.length > 0 ? percentile(waitsMs, 99) : null,
      // Accepting and completing each call, over the measured window: what bounds both rates here.
      gateway_cpu_us_per_call: (gatewayCpuS * 1e6) / CALLS,
      pass_accepted_per_s: acceptedPerS >= ASYNC_TARGETS.minAcceptedPerS,
      pass_completed_per_s: completedPerS >= ASYNC_TARGETS.minCompletedPerS,
      pass_lost: lost + pacedAudit.lost <= ASYNC_TARGETS.maxLost,
      paced_calls: PACED_CALLS,
      paced_rate_per_s: PACED_RATE_PER_S,
      paced_offered_per_s: pacedOfferedPerS,
      paced_completed: pacedDone.completed,
      paced_lost: pacedAudit.lost,
      paced_queue_wait_p50_ms: pacedWaitP50,
      paced_queue_wait_p99_ms: pacedAudit.waitsMs.length > 0 ? percentile(pacedAudit.waitsMs, 99) : null,
      pass_paced_queue_wait_p50_ms: pacedWaitP50 !== null && pacedWaitP50 < ASYNC_TARGETS.maxPacedWaitP50Ms,
      paced_queue_wait_ms: pacedAudit.waitsMs,
    };
    const ms = (v: number | null) => (v === null ? '-' : formatNumber(v, 1));
    const figures = formatTable(
      [
        { title: 'figure', align: 'left' },
        { title: 'value', align: 'right' },
      ],
      [
        ['calls sent', formatNumber(CALLS, 0)],
        ['accepted (202)', formatNumber(sent.ids.length, 0)],
        ['refused (not 202)', formatNumber(sent.refused, 0)],
        ['completed (2xx)', formatNumber(done.completed, 0)],
        ['failed', formatNumber(done.failed, 0)],
        ['accept latency p50 / p99 ms', `${ms(summary.accept_p50_ms)} / ${ms(summary.accept_p99_ms)}`],
        ['queue wait p50 / p99 ms', `${ms(summary.queue_wait_p50_ms)} / ${ms(summary.queue_wait_p99_ms)}`],
        ['all accepted after s', formatNumber(acceptSeconds, 2)],
        ['all completed after s', formatNumber(completeSeconds, 2)],
        ['gateway CPU µs per call (accept + run)', formatNumber(summary.gateway_cpu_us_per_call, 0)],
        [`paced: calls offered at ${PACED_RATE_PER_S}/s`, formatNumber(PACED_CALLS, 0)],
        ['paced: offered/s as sent', formatNumber(pacedOfferedPerS, 0)],
        ['paced: queue wait p50 / p99 ms', `${ms(pacedWaitP50)} / ${ms(summary.paced_queue_wait_p99_ms)}`],
      ],
    );
    const verdicts = formatTable(VERDICT_COLUMNS, [
      [
        'accepted/s at the gateway',
        formatNumber(acceptedPerS, 0),
        `≥ ${ASYNC_TARGETS.minAcceptedPerS}`,
        verdict(summary.pass_accepted_per_s),
      ],
      [
        'completed/s end to end',
        formatNumber(completedPerS, 0),
        `≥ ${ASYNC_TARGETS.minCompletedPerS}`,
        verdict(summary.pass_completed_per_s),
      ],
      [
        `queue wait p50 ms at ${PACED_RATE_PER_S}/s offered`,
        ms(pacedWaitP50),
        `< ${ASYNC_TARGETS.maxPacedWaitP50Ms}`,
        verdict(summary.pass_paced_queue_wait_p50_ms),
      ],
      ['lost', String(lost + pacedAudit.lost), `= ${ASYNC_TARGETS.maxLost}`, verdict(summary.pass_lost)],
    ]);
    return {
      text: `${figures}\n\n${verdicts}`,
      result: {
        ...summary,
        targets: ASYNC_TARGETS,
        senders: SENDERS,
        replicas: REPLICAS,
        warmUpCalls: WARM_UP_CALLS,
        setup:
          'one gateway process (NIMBUS_ASYNC_CONCURRENCY default) with real redis-server and nats-server (JetStream, file storage) on loopback, two runtime-node replicas of the hello function',
      },
    };
  } finally {
    agent.destroy();
    await children.stopAll();
    await Promise.all([nats?.stop(), redis?.stop()]);
    await fn.remove();
  }
}

export const asyncBenchmark: Benchmark = {
  name: 'async',
  description: `${CALLS.toLocaleString('en-US')} async calls through the gateway with real Redis and NATS: accepted/s, completed/s, lost`,
  limitMs: 300_000,
  run,
};
