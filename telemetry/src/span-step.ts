import { type Span, SpanStatusCode } from '@opentelemetry/api';

/**
 * A step of some work as a span: attributes as it goes, an error status with the reason when it
 * failed. Callers hold a `SpanStep` or NO_STEP (tracing off, or nothing to hang it under) and
 * make no checks of their own.
 */
export interface Step {
  set(name: string, value: string | number | boolean): void;
  /** Ends the step; with `error` (an Error or its text), it failed for that reason. */
  end(error?: unknown): void;
}

export const NO_STEP: Step = Object.freeze({ set: () => {}, end: () => {} });

export class SpanStep implements Step {
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
