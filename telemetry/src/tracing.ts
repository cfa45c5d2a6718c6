import type { IncomingHttpHeaders } from 'node:http';
import {
  type Context,
  ROOT_CONTEXT,
  type Tracer,
  defaultTextMapGetter,
  defaultTextMapSetter,
} from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from './tracing-config.js';

/**
 * A component's tracing: a tracer when it is on, and W3C trace context in and out of HTTP
 * headers. Nothing is global (no registered provider, no context manager): a caller passes the
 * parent context along itself, so two components in one process (local mode, the tests) keep
 * their own providers and service names.
 */
export interface Tracing {
  /** Undefined when tracing is off: a caller skips all span work on one check. */
  readonly tracer: Tracer | undefined;
  /** The context a caller's `traceparent` and `tracestate` name, or the root when they name none (or a bad one). */
  extract(headers: IncomingHttpHeaders | Readonly<Record<string, string | undefined>>): Context;
  /** Writes `traceparent` (and `tracestate`) for the span in `ctx` onto outgoing headers. */
  inject(ctx: Context, headers: Record<string, string>): void;
  /** Sends every span ended so far. */
  flush(): Promise<void>;
  /** Sends what is left and stops. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

const extract: Tracing['extract'] = (headers) =>
  propagator.extract(ROOT_CONTEXT, headers as Record<string, unknown>, defaultTextMapGetter);
const inject: Tracing['inject'] = (ctx, headers) => propagator.inject(ctx, headers, defaultTextMapSetter);

const OFF: Tracing = Object.freeze({
  tracer: undefined,
  extract,
  inject,
  flush: async () => {},
  shutdown: async () => {},
});

/**
 * Tracing as `config` says: off (no tracer, nothing loaded) without an endpoint; else spans go
 * in batches over OTLP/HTTP (JSON) to the endpoint. `exporter` replaces that exporter (a test's
 * in-memory one). The OTLP exporter's modules are imported only on the first batch, so a
 * process that never records a span never loads them.
 */
export function startTracing(config: TracingConfig, exporter?: SpanExporter): Tracing {
  const endpoint = config.endpoint;
  if (endpoint === undefined && exporter === undefined) return OFF;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter ?? new OtlpOnFirstUse(endpoint as string))],
  });
  return {
    tracer: provider.getTracer('nimbus'),
    extract,
    inject,
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/** The OTLP/HTTP exporter, imported when the first batch is sent. */
class OtlpOnFirstUse implements SpanExporter {
  private exporter: Promise<SpanExporter> | undefined;

  constructor(private readonly url: string) {}

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.exporter ??= import('@opentelemetry/exporter-trace-otlp-http').then(
      ({ OTLPTraceExporter }) => new OTLPTraceExporter({ url: this.url }),
    );
    this.exporter.then(
      (exporter) => exporter.export(spans, done),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  }

  async forceFlush(): Promise<void> {
    await (await this.exporter)?.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await (await this.exporter)?.shutdown();
  }
}
