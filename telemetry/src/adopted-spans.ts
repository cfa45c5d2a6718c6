import {
  type Context,
  type HrTime,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';

/**
 * A span another process recorded and handed over whole (a replica's, with its response), checked
 * by whoever adopts it: ids are 16 hex digits, the parent is the adopter's span or another of the
 * same batch.
 */
export interface AdoptedSpan {
  readonly name: string;
  readonly kind: 'server' | 'client' | 'internal';
  readonly spanId: string;
  readonly parentSpanId: string;
  /** Microseconds since the Unix epoch. */
  readonly startMicros: number;
  readonly endMicros: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** Set when the span failed: why. */
  readonly error?: string | undefined;
}

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;

const hrTime = (micros: number): HrTime => [Math.floor(micros / 1e6), Math.round(micros % 1e6) * 1000];

/**
 * The SDK's ids, except that the next span id can be set beforehand: an adopted span keeps the id
 * its recorder gave it, which the spans of calls it made already name as their parent.
 */
export class PresetIds implements IdGenerator {
  private next: string | undefined;

  constructor(private readonly random: IdGenerator) {}

  generateTraceId(): string {
    return this.random.generateTraceId();
  }

  generateSpanId(): string {
    const preset = this.next;
    this.next = undefined;
    return preset ?? this.random.generateSpanId();
  }

  /** Starts a span with `spanId` as its id: the preset is taken synchronously by startSpan. */
  startWithId(spanId: string, start: () => Span): Span {
    this.next = spanId;
    try {
      return start();
    } finally {
      this.next = undefined;
    }
  }
}

/** Records `spans` in the trace of `parent` (whose span is the batch's root) through `tracer`. */
export function recordAdopted(
  tracer: Tracer,
  ids: PresetIds,
  parent: Context,
  spans: readonly AdoptedSpan[],
  extra: Readonly<Record<string, string>>,
): void {
  const root = trace.getSpanContext(parent);
  if (root === undefined) return;
  for (const adopted of spans) {
    const parentContext = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: root.traceId,
      spanId: adopted.parentSpanId,
      traceFlags: TraceFlags.SAMPLED,
    });
    const span = ids.startWithId(adopted.spanId, () =>
      tracer.startSpan(
        adopted.name,
        {
          kind: KINDS[adopted.kind],
          startTime: hrTime(adopted.startMicros),
          attributes: { ...adopted.attributes, ...extra },
        },
        parentContext,
      ),
    );
    if (adopted.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: adopted.error });
    span.end(hrTime(adopted.endMicros));
  }
}
