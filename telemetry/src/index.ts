export { type TracingConfig, loadTracingConfig } from './tracing-config.js';
export type { AdoptedSpan } from './adopted-spans.js';
export { ADOPTED_SERVICE, type Tracing, startTracing } from './tracing.js';
export { NO_STEP, type Step, SpanStep } from './span-step.js';
