import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import {
  type Context,
  ROOT_CONTEXT,
  type Tracer,
  defaultTextMapGetter,
  defaultTextMapSetter,
} from '@opentelemetry/api';
import type * as Core from '@opentelemetry/core';
import type * as Resources from '@opentelemetry/resources';
import type * as Sdk from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { type AdoptedSpan, PresetIds, recordAdopted } from './adopted-spans.js';
import type { TracingConfig } from './tracing-config.js';

/**
 * The SDK's modules, required when first needed rather than imported: a gateway with tracing off
 * (the default) would otherwise load them at every start, about 45 ms and 4 MiB measured on the
 * benchmarks' machine, for nothing. The OpenTelemetry API stays a plain import: it is small.
 */
const require = createRequire(import.meta.url);
const core = () => require('@opentelemetry/core') as typeof Core;

let propagator: Core.W3CTraceContextPropagator | undefined;
const w3c = () => {
  propagator ??= new (core().W3CTraceContextPropagator)();
  return propagator;
};

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
  /**
   * Records spans another process made (a replica's) under the span in `parent`, keeping their
   * ids, as the service `nimbus-function` with `attributes` added to each. Checking them is the
   * caller's part.
   */
  adopt(parent: Context, spans: readonly AdoptedSpan[], attributes: Readonly<Record<string, string>>): void;
  /** Sends every span ended so far. */
  flush(): Promise<void>;
  /** Sends what is left and stops. */
  shutdown(): Promise<void>;
}

const extract: Tracing['extract'] = (headers) =>
  w3c().extract(ROOT_CONTEXT, headers as Record<string, unknown>, defaultTextMapGetter);
const inject: Tracing['inject'] = (ctx, headers) => w3c().inject(ctx, headers, defaultTextMapSetter);

const OFF: Tracing = Object.freeze({
  tracer: undefined,
  extract,
  inject,
  adopt: () => {},
  flush: async () => {},
  shutdown: async () => {},
});

/**
 * Tracing as `config` says: off (no tracer, no SDK loaded) without an endpoint; else spans go
 * in batches over OTLP/HTTP (JSON) to the endpoint. `exporter` replaces that exporter (a test's
 * in-memory one). The OTLP exporter's modules are imported only on the first batch, so a
 * process that never records a span never loads them.
 */
export function startTracing(config: TracingConfig, exporter?: SpanExporter): Tracing {
  const endpoint = config.endpoint;
  if (endpoint === undefined && exporter === undefined) return OFF;
  const sdk = require('@opentelemetry/sdk-trace-base') as typeof Sdk;
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof Resources;
  const sink = exporter ?? new OtlpOnFirstUse(endpoint as string);
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new sdk.BatchSpanProcessor(sink)],
  });
  // Spans adopted from replicas: their own service, and their parent has been sampled already.
  let adopted: { provider: Sdk.BasicTracerProvider; tracer: Tracer; ids: PresetIds } | undefined;
  const adoptedProvider = () => {
    if (adopted === undefined) {
      const ids = new PresetIds(new sdk.RandomIdGenerator());
      const functions = new sdk.BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': ADOPTED_SERVICE }),
        sampler: new sdk.AlwaysOnSampler(),
        idGenerator: ids,
        spanProcessors: [new sdk.BatchSpanProcessor(new SharedExporter(sink))],
      });
      adopted = { provider: functions, tracer: functions.getTracer('nimbus'), ids };
    }
    return adopted;
  };
  return {
    tracer: provider.getTracer('nimbus'),
    extract,
    inject,
    adopt(parent, spans, attributes) {
      if (spans.length === 0) return;
      const { tracer, ids } = adoptedProvider();
      recordAdopted(tracer, ids, parent, spans, attributes);
    },
    flush: async () => {
      await Promise.all([provider.forceFlush(), adopted?.provider.forceFlush()]);
    },
    shutdown: async () => {
      await adopted?.provider.shutdown();
      await provider.shutdown();
    },
  };
}

/** The service name a replica's spans are exported under. */
export const ADOPTED_SERVICE = 'nimbus-function';

/** One exporter behind two providers: only the provider that owns it shuts it down. */
class SharedExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.inner.export(spans, done);
  }

  async forceFlush(): Promise<void> {
    await this.inner.forceFlush?.();
  }

  async shutdown(): Promise<void> {}
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
      (error: Error) => done({ code: core().ExportResultCode.FAILED, error }),
    );
  }

  async forceFlush(): Promise<void> {
    await (await this.exporter)?.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await (await this.exporter)?.shutdown();
  }
}
