import { inlineFunction } from '@nimbus/test/harness/fixtures';

/**
 * Where the handler reads an event's origin time: the CloudEvent's `time` (PostgreSQL stamps the
 * commit time there), a `t` the publisher wrote into the payload (brokers and webhooks, whose
 * ce-time is the time of receipt or has second precision), or the `-<ms>.bin` end of an S3 key.
 */
export type OriginStamp = 'ce-time' | 'payload' | 'key';

/**
 * The trivial function each source drives. Its first act is `Date.now()`, so the latency it keeps
 * is origin to handler start; then it files the event under its phase (`warm`, `sat`, `paced`,
 * `plain`), counting duplicates apart by CloudEvent id. GET answers the counts, and with
 * ?phase=<p> that phase's latencies too (kept out of the frequent polls, which must stay cheap).
 */
const RECORDER_SOURCE = `const ORIGIN = process.env.BENCH_ORIGIN;
const phases = {};
const asObject = (d) =>
  typeof d === 'string' ? JSON.parse(d) : Buffer.isBuffer(d) ? JSON.parse(d.toString('utf8')) : d;
export default async (event) => {
  const now = Date.now();
  if (event.method === 'GET') {
    const out = {};
    for (const [name, p] of Object.entries(phases))
      out[name] = { count: p.count, unique: p.ids.size, first: p.first, last: p.last,
        latencyMs: name === event.query.phase ? p.latencyMs : undefined };
    return out;
  }
  const ce = event.cloudEvent;
  let phase, id, origin;
  if (ORIGIN === 'key') {
    const m = /^(\\w+)\\/(\\d+)-(\\d+)\\.bin$/.exec(ce.subject);
    phase = m[1]; id = m[2]; origin = Number(m[3]);
  } else {
    const data = asObject(ce ? ce.data : event.body);
    const row = ORIGIN === 'ce-time' ? data.new : data;
    phase = row.phase; id = ce ? ce.id : String(row.n);
    origin = ORIGIN === 'ce-time' ? Date.parse(ce.time) : Number(row.t);
  }
  const p = (phases[phase] ??= { count: 0, ids: new Set(), first: now, last: now, latencyMs: [] });
  p.count++;
  p.ids.add(id);
  p.last = now;
  p.latencyMs.push(now - origin);
  return 'ok';
};`;

/** A Function of one replica running the recorder, with `trigger` (YAML list entry lines) as its one trigger. */
export function recorderFunction(name: string, origin: OriginStamp, trigger: string): string {
  const spec = [
    'scale:\n  min: 1\n  max: 1',
    `env:\n  - name: BENCH_ORIGIN\n    value: ${origin}`,
    `triggers:\n${trigger.replace(/^/gm, '  ')}`,
  ].join('\n');
  return inlineFunction(name, RECORDER_SOURCE, spec);
}

/** What the recorder knows of one phase. Times are the replica's Date.now(). */
export interface PhaseView {
  readonly count: number;
  readonly unique: number;
  readonly first: number;
  readonly last: number;
  readonly latencyMs?: number[];
}

/** The recorder's view of every phase, with the latencies of `phase` when named. */
export async function recorded(
  gatewayUrl: string,
  fn: string,
  phase?: string,
): Promise<Record<string, PhaseView | undefined>> {
  const query = phase === undefined ? '' : `?phase=${phase}`;
  const reply = await fetch(`${gatewayUrl}/function/${fn}${query}`, { signal: AbortSignal.timeout(10_000) });
  if (reply.status !== 200) throw new Error(`GET /function/${fn}: ${reply.status} ${await reply.text()}`);
  return (await reply.json()) as Record<string, PhaseView | undefined>;
}
