import type { FunctionState } from '../contract.js';
import type { InvocationSpans, OpenSpan, SpanAttributes } from './invocation-spans.js';

interface Trace {
  readonly spans: InvocationSpans;
  readonly parent: OpenSpan;
}

/** Runs one of ctx's calls inside a client span under the handler's, ended when the call settles. */
export async function tracedCall<T>(
  trace: Trace,
  name: string,
  attributes: SpanAttributes,
  call: (span: OpenSpan) => Promise<T>,
): Promise<T> {
  const span = trace.spans.start(name, 'client', trace.parent, attributes);
  try {
    const result = await call(span);
    span.end();
    return result;
  } catch (error) {
    span.end(error);
    throw error;
  }
}

const STATE_CALLS = new Set<keyof FunctionState>([
  'get',
  'getWithVersion',
  'set',
  'delete',
  'incr',
  'compareAndSet',
]);

/**
 * `ctx.state` for a traced invocation: each call a span named after it (`ctx.state get`), with
 * the key's length but not the key itself, which may hold a user's data.
 */
export function tracedState(state: FunctionState, trace: Trace): FunctionState {
  const traced = {} as Record<keyof FunctionState, unknown>;
  for (const method of STATE_CALLS) {
    const call = state[method] as (key: string, ...rest: unknown[]) => Promise<unknown>;
    traced[method] = (key: string, ...rest: unknown[]) =>
      tracedCall(trace, `ctx.state ${method}`, { 'nimbus.state.key_length': String(key).length }, () =>
        call.call(state, key, ...rest),
      );
  }
  return Object.freeze(traced) as FunctionState;
}
