import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TRACE_REQUEST_HEADER } from '@nimbus/api/replica-spans';

/**
 * A replica's spans, for the gateway (the headers: @nimbus/api/replica-spans). The runtime holds
 * no tracing SDK and no exporter: loading the OpenTelemetry SDK and its OTLP exporter costs 60-120 ms of a replica's start on the benchmarks'
 * machine (bundled: 428 KB and 644 KB), the very cold start a trace is meant to explain, and an
 * exporter in the pod would need a way out to the collector. So the runtime records its spans as
 * plain records and hands them to the gateway with the response; the gateway, which has the SDK
 * loaded and knows which span it sent, checks them and exports them under that span.
 */
/** At most this many spans are kept besides the handler's; later ones are counted, not sent. */
export const MAX_SPANS = 63;
/**
 * The spans besides the handler's go while their JSON fits this many bytes: with base64url about
 * 8 KiB of header, well inside the 16 KiB response head the gateway's HTTP client accepts (a
 * larger one would fail the very call that was traced).
 */
const MAX_CHILDREN_JSON = 6 * 1024;
const MAX_ATTRIBUTE_TEXT = 256;
const MAX_NAME = 128;

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
  /** The handler's span, sent whatever else fits: every other span hangs under it. */
  private server: SpanRecord | undefined;
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
      // The gateway refuses a batch with a name that is not printable ASCII (a ctx.invoke of 'é').
      n: name.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_NAME),
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
    if (record.k === 'server' && record.p === this.parentId) this.server = record;
    else if (this.done.length < MAX_SPANS) this.done.push(record);
    else this.dropped++;
  }

  /**
   * The response header's value: base64url JSON of the spans ended so far, the handler's first and
   * the others while they fit; the handler's span counts those left out.
   */
  encode(): string {
    const texts: string[] = [];
    let size = 0;
    let dropped = this.dropped;
    for (const record of this.done) {
      const text = JSON.stringify(record);
      const bytes = Buffer.byteLength(text) + 1;
      if (size + bytes > MAX_CHILDREN_JSON) dropped++;
      else {
        texts.push(text);
        size += bytes;
      }
    }
    const server = this.server;
    if (server !== undefined) {
      if (dropped > 0) {
        server.a ??= {};
        server.a['nimbus.spans_dropped'] = dropped;
      }
      texts.unshift(JSON.stringify(server));
    }
    return Buffer.from(`[${texts.join(',')}]`).toString('base64url');
  }
}
