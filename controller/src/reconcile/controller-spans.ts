import type { Tracing } from '@nimbus/telemetry';
import { type Context, ROOT_CONTEXT, type Span, SpanStatusCode } from '@opentelemetry/api';

/** A span being recorded, or nothing when tracing is off: callers make no checks of their own. */
export interface Step {
  set(name: string, value: string | number | boolean): void;
  end(error?: unknown): void;
}

const NO_STEP: Step = Object.freeze({ set: () => {}, end: () => {} });

class SpanStep implements Step {
  constructor(private readonly span: Span) {}

  set(name: string, value: string | number | boolean): void {
    this.span.setAttribute(name, value);
  }

  end(error?: unknown): void {
    if (error !== undefined)
      this.span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
    this.span.end();
  }
}

/**
 * The controller's spans: a trace of its own for each reconcile (sampled by the ratio), and the
 * steps of a wake under the span of the wake request, which continues the held call's trace.
 */
export class ControllerSpans {
  constructor(private readonly tracing: Tracing | undefined) {}

  /** One reconcile of `key`, a new trace's root. */
  reconcile(key: string): Step {
    const tracer = this.tracing?.tracer;
    if (tracer === undefined) return NO_STEP;
    return new SpanStep(
      tracer.startSpan(`reconcile ${key}`, { attributes: { 'nimbus.function': key } }, ROOT_CONTEXT),
    );
  }

  /** A step of a wake, under `parent` (the wake request's span); nothing when the wake came untraced. */
  step(parent: Context | undefined, name: string): Step {
    const tracer = this.tracing?.tracer;
    if (tracer === undefined || parent === undefined) return NO_STEP;
    return new SpanStep(tracer.startSpan(name, {}, parent));
  }
}
