import type { AdoptedSpan, Tracing } from '@nimbus/telemetry';
import { type Context, type Span, trace } from '@opentelemetry/api';

const MAX_SPANS = 64;
const MAX_ATTRIBUTES = 16;
const MAX_TEXT = 256;
const SPAN_NAME = /^[\x20-\x7e]{1,128}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;
const ATTRIBUTE_NAME = /^[a-z][a-z0-9_.]{0,63}$/;
const KINDS = new Set(['server', 'client', 'internal']);
/** How far a replica's clock may be from the gateway's: spans outside it are not believed. */
const CLOCK_SLACK_MICROS = 60_000_000;

/** A replica's spans that could not be taken, and why: recorded on the gateway's span. */
export class RefusedSpans {
  constructor(readonly reason: string) {}
}

/**
 * The spans a replica sent back (its response header's value), checked before any is recorded:
 * the function's code runs in that process, so what arrives may say anything. Every span must sit
 * under `rootId`, the gateway's own span for this request, directly or through another span of the
 * batch, so a function can add detail to its own calls and nothing to anyone else's trace; ids are
 * fresh, names and attributes short, times near the gateway's clock. One bad span refuses the batch.
 */
export function parseReplicaSpans(
  value: string,
  rootId: string,
  nowMicros: number,
): AdoptedSpan[] | RefusedSpans {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    return new RefusedSpans('not base64url JSON');
  }
  if (!Array.isArray(raw)) return new RefusedSpans('not a list');
  if (raw.length > MAX_SPANS) return new RefusedSpans(`more than ${MAX_SPANS} spans`);
  const ids = new Set<string>([rootId]);
  const spans: AdoptedSpan[] = [];
  for (const entry of raw) {
    const span = adoptable(entry, nowMicros);
    if (typeof span === 'string') return new RefusedSpans(span);
    if (ids.has(span.spanId)) return new RefusedSpans(`span id ${span.spanId} used twice`);
    ids.add(span.spanId);
    spans.push(span);
  }
  for (const span of spans)
    if (!ids.has(span.parentSpanId) || span.parentSpanId === span.spanId)
      return new RefusedSpans(`span ${span.spanId} names a parent outside this call`);
  return rootedSpans(spans, rootId) ?? new RefusedSpans('the spans form a loop');
}

/** The spans when every one reaches the root through its parents; undefined on a loop. */
function rootedSpans(spans: AdoptedSpan[], rootId: string): AdoptedSpan[] | undefined {
  const parentOf = new Map(spans.map((span) => [span.spanId, span.parentSpanId]));
  for (const span of spans) {
    let id = span.spanId;
    for (let steps = 0; id !== rootId; steps++) {
      if (steps > spans.length) return undefined;
      id = parentOf.get(id) as string;
    }
  }
  return spans;
}

function adoptable(entry: unknown, nowMicros: number): AdoptedSpan | string {
  if (typeof entry !== 'object' || entry === null) return 'a span is not an object';
  const { n, i, p, k, s, e, a, x } = entry as Record<string, unknown>;
  if (typeof n !== 'string' || !SPAN_NAME.test(n))
    return 'a span name is missing, too long or not printable ASCII';
  if (typeof i !== 'string' || !SPAN_ID.test(i)) return `span "${n.slice(0, 40)}" has a bad id`;
  if (typeof p !== 'string' || !SPAN_ID.test(p)) return `span ${i} has a bad parent id`;
  if (typeof k !== 'string' || !KINDS.has(k)) return `span ${i} has a bad kind`;
  if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e) || (e as number) < (s as number))
    return `span ${i} has bad times`;
  if (
    Math.abs((s as number) - nowMicros) > CLOCK_SLACK_MICROS ||
    (e as number) > nowMicros + CLOCK_SLACK_MICROS
  )
    return `span ${i} is not from around now`;
  if (x !== undefined && typeof x !== 'string') return `span ${i} has a bad error`;
  const attributes = attributesOf(a);
  if (typeof attributes === 'string') return `span ${i}: ${attributes}`;
  return {
    name: n,
    kind: k as AdoptedSpan['kind'],
    spanId: i,
    parentSpanId: p,
    startMicros: s as number,
    endMicros: e as number,
    attributes,
    error: x === undefined ? undefined : (x as string).slice(0, MAX_TEXT),
  };
}

function attributesOf(value: unknown): Record<string, string | number | boolean> | string {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'attributes are not an object';
  const entries = Object.entries(value);
  if (entries.length > MAX_ATTRIBUTES) return `more than ${MAX_ATTRIBUTES} attributes`;
  const out: Record<string, string | number | boolean> = {};
  for (const [name, attribute] of entries) {
    // nimbus.function and the like are the gateway's to say, not the replica's.
    if (!ATTRIBUTE_NAME.test(name) || name === 'nimbus.function')
      return `attribute "${name.slice(0, 40)}" refused`;
    if (typeof attribute === 'string') out[name] = attribute.slice(0, MAX_TEXT);
    else if (typeof attribute === 'boolean' || (typeof attribute === 'number' && Number.isFinite(attribute)))
      out[name] = attribute;
    else return `attribute "${name}" has a bad value`;
  }
  return out;
}

/**
 * Records the spans a replica sent back (the header's value) under `span`, the gateway's span that
 * sent the request, in `parent`'s trace; or notes on `span` why they were refused.
 */
export function adoptReplicaSpans(
  tracing: Tracing,
  parent: Context,
  span: Span,
  value: string,
  functionKey: string,
): void {
  const parsed = parseReplicaSpans(value, span.spanContext().spanId, Date.now() * 1000);
  if (parsed instanceof RefusedSpans) span.setAttribute('nimbus.replica_spans_refused', parsed.reason);
  else tracing.adopt(trace.setSpan(parent, span), parsed, { 'nimbus.function': functionKey });
}
