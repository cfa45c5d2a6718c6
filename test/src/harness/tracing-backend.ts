import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, freePorts, startServerProcess, stopChild } from '@nimbus/testkit';
import { stringify } from 'yaml';
import { goModuleBinary } from '../../node/harness/go-build.js';
import type { Progress } from '../../node/harness/host.js';

/**
 * A real tracing backend for the tests: Jaeger v2 (an OpenTelemetry Collector with Jaeger's
 * in-memory storage and query API), pinned by test/tracing-backend/go.mod and built from source
 * once per machine. Spans go in over OTLP/HTTP and are read back through Jaeger's v3 query API,
 * which answers in OTLP's own JSON, so parents, links and typed attributes arrive as they were
 * sent rather than through Jaeger's older span model.
 */

const MODULE_DIR = fileURLToPath(new URL('../../../tracing-backend/', import.meta.url));

/** The storage's name in the config: the exporter writes to it and the query extension reads it. */
const STORE = 'memstore';

/** What an OTLP attribute value becomes: int64s as numbers, bytes as their base64 text. */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | Attributes;
export interface Attributes {
  [key: string]: AttributeValue;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attributes;
}

/** One span as the backend stored it, with its resource's service name beside it. */
export interface StoredSpan {
  traceId: string;
  spanId: string;
  /** Absent on a root span. */
  parentSpanId?: string;
  name: string;
  /** OTLP's SpanKind number: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** The resource's `service.name`. */
  service: string;
  attributes: Attributes;
  resource: Attributes;
  /** Exact, as OTLP carries it. */
  startUnixNano: bigint;
  durationMs: number;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  links: SpanLink[];
}

export interface StoredTrace {
  traceId: string;
  spans: StoredSpan[];
}

/** The Jaeger binary, built on first use (see goModuleBinary); the root hook builds it ahead of every suite. */
export function tracingBackendBinary(progress: Progress): Promise<string> {
  return goModuleBinary({
    name: 'jaeger',
    moduleDir: MODULE_DIR,
    versionOf: 'github.com/jaegertracing/jaeger',
    pkg: 'github.com/jaegertracing/jaeger/cmd/jaeger',
    files: ['go.mod', 'go.sum'],
    expected: 'about 6 minutes on 2 cores',
    progress,
  });
}

export class TracingBackend {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: () => string,
    /** OTLP/HTTP receiver, query HTTP API, query gRPC API (which Jaeger always opens). */
    readonly ports: { otlpHttp: number; queryHttp: number; queryGrpc: number },
  ) {}

  /** Where an OTLP/HTTP exporter sends spans (JSON or protobuf). */
  get otlpTracesUrl(): string {
    return `http://127.0.0.1:${this.ports.otlpHttp}/v1/traces`;
  }

  /** Jaeger's query API and UI. */
  get queryUrl(): string {
    return `http://127.0.0.1:${this.ports.queryHttp}`;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** The last of what Jaeger wrote, for a failure message. */
  get log(): string {
    return this.output();
  }

  /**
   * Starts Jaeger on free loopback ports with memory storage and a config of its own in a temp
   * dir; ready once both the receiver and the query API answer.
   */
  static async start(options: { readyTimeoutMs?: number; maxTraces?: number } = {}): Promise<TracingBackend> {
    const binary = await tracingBackendBinary((line) => process.stderr.write(`${line}\n`));
    const [otlpHttp, queryHttp, queryGrpc] = (await freePorts(3)) as [number, number, number];
    const dir = await mkdtemp(join(tmpdir(), 'nimbus-jaeger-'));
    const configPath = join(dir, 'config.yaml');
    await writeFile(
      configPath,
      stringify(config({ otlpHttp, queryHttp, queryGrpc }, options.maxTraces ?? 10_000)),
    );
    const ports = { otlpHttp, queryHttp, queryGrpc };
    let started: ServerProcess;
    try {
      started = await startServerProcess(binary, ['--config', configPath], {
        what: 'jaeger',
        cwd: dir,
        ready: () => readyAt(ports),
        readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return new TracingBackend(started.child, dir, started.output, ports);
  }

  /**
   * The spans of one trace, or none when the backend has no such trace. Spans are exported in
   * batches and stored as they come, so a test polls this (with a deadline) until the spans it
   * expects are all there.
   */
  async trace(traceId: string): Promise<StoredSpan[]> {
    const body = await this.query(`/api/v3/traces/${encodeURIComponent(traceId)}`);
    return body === undefined ? [] : spansOf(body);
  }

  /** The recent traces (the last hour's, newest first as Jaeger ranks them) with a span of `service`. */
  async traces(service: string, options: { limit?: number } = {}): Promise<StoredTrace[]> {
    const now = Date.now();
    const params = new URLSearchParams({
      'query.service_name': service,
      'query.start_time_min': new Date(now - 3_600_000).toISOString(),
      'query.start_time_max': new Date(now + 60_000).toISOString(),
      'query.num_traces': String(options.limit ?? 100),
    });
    const body = await this.query(`/api/v3/traces?${params}`);
    if (body === undefined) return [];
    const byTrace = new Map<string, StoredSpan[]>();
    for (const span of spansOf(body)) {
      const spans = byTrace.get(span.traceId) ?? [];
      spans.push(span);
      byTrace.set(span.traceId, spans);
    }
    return [...byTrace].map(([traceId, spans]) => ({ traceId, spans }));
  }

  /** Stops the process this backend started (by its PID) and removes its temp dir. */
  async stop(): Promise<void> {
    // A process that never spawned has no PID and may never emit exit.
    if (this.child.pid !== undefined) await stopChild(this.child, 5_000);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** GETs a v3 query path: its JSON, or undefined for the 404 Jaeger answers when nothing matches. */
  private async query(path: string): Promise<OtlpTracesResponse | undefined> {
    const res = await fetch(`${this.queryUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${text}`);
    return JSON.parse(text) as OtlpTracesResponse;
  }
}

/** Whether a Jaeger on these ports takes spans and answers queries. */
async function readyAt(ports: { otlpHttp: number; queryHttp: number }): Promise<boolean> {
  try {
    // An empty export request stores nothing but shows the receiver's pipeline takes spans.
    const exported = await fetch(`http://127.0.0.1:${ports.otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(1_000),
    });
    await exported.body?.cancel();
    const services = await fetch(`http://127.0.0.1:${ports.queryHttp}/api/v3/services`, {
      signal: AbortSignal.timeout(1_000),
    });
    await services.body?.cancel();
    return exported.ok && services.ok;
  } catch {
    return false;
  }
}

/**
 * Jaeger's config: only what the tests use, each listener on a loopback port chosen here. The
 * collector's own metrics are off, which also keeps its Prometheus endpoint (8888 by default)
 * from opening; no batch processor, so spans are stored as soon as they arrive.
 */
function config(
  ports: { otlpHttp: number; queryHttp: number; queryGrpc: number },
  maxTraces: number,
): Record<string, unknown> {
  return {
    service: {
      extensions: ['jaeger_storage', 'jaeger_query'],
      pipelines: {
        traces: { receivers: ['otlp'], exporters: ['jaeger_storage_exporter'] },
      },
      telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
    },
    extensions: {
      jaeger_storage: { backends: { [STORE]: { memory: { max_traces: maxTraces } } } },
      jaeger_query: {
        storage: { traces: STORE },
        // On by default in v2: the query service would trace itself and export those spans to
        // 127.0.0.1:4317, whoever listens there, and spend 5 s on stopping trying to flush them.
        enable_tracing: false,
        http: { endpoint: `127.0.0.1:${ports.queryHttp}` },
        grpc: { endpoint: `127.0.0.1:${ports.queryGrpc}` },
      },
    },
    receivers: {
      otlp: { protocols: { http: { endpoint: `127.0.0.1:${ports.otlpHttp}` } } },
    },
    exporters: { jaeger_storage_exporter: { trace_storage: STORE } },
  };
}

/** OTLP's JSON as the v3 API writes it: hex ids, int64s as strings, defaults left out. */
interface OtlpTracesResponse {
  result?: { resourceSpans?: OtlpResourceSpans[] };
}
interface OtlpResourceSpans {
  resource?: { attributes?: OtlpKeyValue[] };
  scopeSpans?: { spans?: OtlpSpan[] }[];
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes?: OtlpKeyValue[];
  status?: { code?: number; message?: string };
  links?: { traceId: string; spanId: string; attributes?: OtlpKeyValue[] }[];
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  bytesValue?: string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}

function spansOf(body: OtlpTracesResponse): StoredSpan[] {
  const spans: StoredSpan[] = [];
  for (const rs of body.result?.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    const service = resource['service.name'];
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const start = BigInt(s.startTimeUnixNano ?? '0');
        const end = BigInt(s.endTimeUnixNano ?? '0');
        spans.push({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name ?? '',
          kind: s.kind ?? 0,
          service: typeof service === 'string' ? service : '',
          attributes: attributesOf(s.attributes),
          resource,
          startUnixNano: start,
          durationMs: Number(end - start) / 1e6,
          status: {
            code: s.status?.code ?? 0,
            ...(s.status?.message ? { message: s.status.message } : {}),
          },
          links: (s.links ?? []).map((l) => ({
            traceId: l.traceId,
            spanId: l.spanId,
            attributes: attributesOf(l.attributes),
          })),
        });
      }
    }
  }
  return spans;
}

function attributesOf(list: OtlpKeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  for (const { key, value } of list ?? []) out[key] = plainValue(value);
  return out;
}

function plainValue(v: OtlpAnyValue | undefined): AttributeValue {
  if (v === undefined) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(plainValue);
  if (v.kvlistValue !== undefined) return attributesOf(v.kvlistValue.values);
  // An AnyValue with none of its fields set: OTLP's empty value.
  return null;
}
