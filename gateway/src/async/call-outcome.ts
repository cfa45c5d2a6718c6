import type { CallOutcome } from '../invoke/invoker.js';
import { type AttemptOutcome, retryAfterMs } from './retry-policy.js';

/*
 * How a finished attempt reads, for everything that runs calls on a function's behalf: the async
 * workers, the trigger workers and the scheduler. Pure; the workers decide what to do with it.
 */

/** Pseudo-headers that keep a dead letter's method, path and callback beside the request's own headers. */
export const DEAD_LETTER_PSEUDO = { method: ':method', path: ':path', callbackUrl: ':callback-url' } as const;

/** How much of a failed answer's body an error message quotes. */
const ERROR_SNIPPET = 500;

/** How an attempt ended, in the terms the retry decision uses. Pure. */
export function attemptOutcomeOf(outcome: CallOutcome, now: number): AttemptOutcome {
  if (outcome.kind === 'response') {
    const after = retryAfterMs(outcome.headers['retry-after'], now);
    return {
      kind: 'response',
      status: outcome.status,
      ...(after === undefined ? {} : { retryAfterMs: after }),
    };
  }
  const { problem } = outcome;
  // The gateway's own 504: the function took longer than its timeout, as a 504 from it would say.
  if (problem.code === 'FunctionTimeout') return { kind: 'response', status: 504 };
  return outcome.unreachable
    ? { kind: 'unreachable', status: problem.status }
    : { kind: 'refused', status: problem.status };
}

/** The last error as an operator reads it: the status and the start of the body, or the gateway's problem. */
export function describeFailure(outcome: CallOutcome, attempt: number): string {
  if (outcome.kind === 'failed') return `attempt ${attempt}: ${outcome.problem.message}`;
  const text = outcome.body.subarray(0, ERROR_SNIPPET).toString('utf8').replace(/\s+/g, ' ').trim();
  const more = outcome.size > ERROR_SNIPPET ? '…' : '';
  return `attempt ${attempt}: the function answered ${outcome.status}${text === '' ? '' : `: ${text}${more}`}`;
}
