import { NO_STEP, SpanStep, type Step, type Tracing } from '@nimbus/telemetry';
import { type Context, ROOT_CONTEXT } from '@opentelemetry/api';

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
