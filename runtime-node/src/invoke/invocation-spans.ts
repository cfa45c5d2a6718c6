import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The request header by which the gateway asks a replica for its spans, and the response header
 * that carries them back. The runtime holds no tracing SDK and no exporter: loading the
 * OpenTelemetry SDK and its OTLP exporter costs 60-120 ms of a replica's start on the benchmarks'
 * machine (bundled: 428 KB and 644 KB), the very cold start a trace is meant to explain, and an
 * exporter in the pod would need a way out to the collector. So the runtime records its spans as
 * plain records and hands them to the gateway with the response; the gateway, which has the SDK
 * loaded and knows which span it sent, checks them and exports them under that span.
 */
export const TRACE_REQUEST_HEADER = 'x-nimbus-trace';
export const SPANS_RESPONSE_HEADER = 'x-nimbus-spans';

/** At most this many spans go back with one response; later ones are counted, not sent. */
export const MAX_SPANS = 64;
const MAX_ATTRIBUTE_TEXT = 256;

export type SpanAttributes = Record<string, string | number | boolean>;

/** One span as it travels to the gateway; short keys keep the header small. */
export interface SpanRecord {
  /** Name. */
  n: string;
  /** This span's id (16 hex digits) and its parent's: the gateway's span or another record's. */
  i: string;
  p: string;
  /** 'server', 'client' or 'internal'. */
  k: 'server' | 'client' | 'internal';
  /** Start and end, microseconds since the Unix epoch. */
  s: number;
  e: number;
  a?: SpanAttributes;
  /** Set when the span failed: why. */
  x?: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const idBytes = Buffer.alloc(8);

function newSpanId(): string {
  randomFillSync(idBytes);
  return idBytes.toString('hex');
}

function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** A span being recorded; `end` once. */
export class OpenSpan {
  private ended = false;

  constructor(
    private readonly spans: InvocationSpans,
    readonly record: SpanRecord,
  ) {}

  get id(): string {
    return this.record.i;
  }

  set(name: string, value: string | number | boolean): void {
    this.record.a ??= {};
    this.record.a[name] = typeof value === 'string' ? value.slice(0, MAX_ATTRIBUTE_TEXT) : value;
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.record.e = nowMicros();
    if (error !== undefined)
      this.record.x = (error instanceof Error ? error.message : String(error)).slice(0, MAX_ATTRIBUTE_TEXT);
    this.spans.ended(this.record);
  }
}

/**
 * One invocation's spans, made only when the gateway asked for them (a sampled traceparent and
 * the trace request header): with tracing off nothing here runs but the header check.
 */
export class InvocationSpans {
  private readonly done: SpanRecord[] = [];
  private dropped = 0;

  private constructor(
    readonly traceId: string,
    /** The gateway's span that sent the request: the root of everything recorded here. */
    readonly parentId: string,
  ) {}

  /** The invocation's recorder, or undefined when the gateway did not ask (or the traceparent is not sampled). */
  static requested(headers: IncomingHttpHeaders): InvocationSpans | undefined {
    if (headers[TRACE_REQUEST_HEADER] !== '1') return undefined;
    const parsed = TRACEPARENT.exec(String(headers.traceparent ?? ''));
    if (parsed === null) return undefined;
    const [, traceId, parentId, flags] = parsed as unknown as [string, string, string, string];
    // Bit 0 of the flags: the caller records this trace. Unsampled, nobody would see the spans.
    if ((Number.parseInt(flags, 16) & 1) === 0) return undefined;
    return new InvocationSpans(traceId, parentId);
  }

  start(
    name: string,
    kind: SpanRecord['k'],
    parent: OpenSpan | undefined,
    attributes?: SpanAttributes,
  ): OpenSpan {
    const record: SpanRecord = {
      n: name,
      i: newSpanId(),
      p: parent?.id ?? this.parentId,
      k: kind,
      s: nowMicros(),
      e: 0,
    };
    if (attributes !== undefined) record.a = { ...attributes };
    return new OpenSpan(this, record);
  }

  /** The traceparent for a call made inside `span`: the callee's spans hang under it. */
  traceparent(span: OpenSpan): string {
    return `00-${this.traceId}-${span.id}-01`;
  }

  ended(record: SpanRecord): void {
    if (this.done.length < MAX_SPANS) this.done.push(record);
    else this.dropped++;
  }

  /** The response header's value: base64url JSON of the spans ended so far. */
  encode(): string {
    const spans = this.done;
    if (this.dropped > 0 && spans[0] !== undefined) {
      spans[0].a ??= {};
      spans[0].a['nimbus.spans_dropped'] = this.dropped;
    }
    return Buffer.from(JSON.stringify(spans)).toString('base64url');
  }
}
