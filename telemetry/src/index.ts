export { type TracingConfig, loadTracingConfig } from './tracing-config.js';
export { type Tracing, startTracing } from './tracing.js';
