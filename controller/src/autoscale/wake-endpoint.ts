import type { IncomingMessage, ServerResponse } from 'node:http';
import { isFunctionName, isNamespace } from '@nimbus/api';
import { VERSION_NAME } from '@nimbus/api/traffic';
import { splitVersionRoute } from '@nimbus/api/versions';
import type { Tracing } from '@nimbus/telemetry';
import { type Context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { WakeOutcome } from './cluster-autoscaler.js';
import { BodyTooLargeError, authorised, readJson, replyJson as reply } from './peer-http.js';

const MAX_BODY_BYTES = 4096;

/** What the wake endpoint needs: the leader's wake, or undefined on a replica that does not lead. */
export interface Wakeable {
  /** `trace` is the wake request's span, when traced: the wake's steps go under it. */
  wake(namespace: string, name: string, held: number, trace?: Context): Promise<WakeOutcome | undefined>;
}

export interface WakeRequest {
  readonly namespace: string;
  /** A Function's name, or a version's route name `function@vN`. */
  readonly name: string;
  readonly held: number;
}

/** Whether `name` is a Function's name or one version's route name, `function@vN`. Pure. */
function isWakeName(name: string): boolean {
  const route = splitVersionRoute(name);
  if (route === undefined) return isFunctionName(name);
  return isFunctionName(route.functionName) && VERSION_NAME.test(route.version);
}

/**
 * Checks a wake body (untrusted JSON): `{ "function": "namespace/name", "held": n }`, the name
 * a Function's or a version's route (`name@vN`), which wakes that version alone. Pure.
 */
export function parseWake(body: unknown): WakeRequest | { field: string; message: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { field: 'body', message: 'must be a JSON object' };
  const { function: key, held = 1 } = body as Record<string, unknown>;
  const [namespace = '', name = '', ...rest] = typeof key === 'string' ? key.split('/') : [];
  if (rest.length > 0 || !isNamespace(namespace) || !isWakeName(name))
    return {
      field: 'function',
      message: 'must be "namespace/name" of a Function, or "namespace/name@vN" of one of its versions',
    };
  if (typeof held !== 'number' || !Number.isInteger(held) || held < 0)
    return { field: 'held', message: 'must be a whole number, 0 or more' };
  return { namespace, name, held };
}

/**
 * `POST /v1/wake`: a gateway holds requests for a function without a ready replica. The leader
 * answers once the Deployment's raised scale is written (200), so the gateway's wait for the
 * answer measures the wake; a replica that does not lead answers 409 NotLeader, and the gateway,
 * which wakes every controller replica, hears the leader's answer too.
 */
export class WakeEndpoint {
  constructor(
    private readonly target: Wakeable,
    private readonly token: string,
    private readonly tracing?: Tracing,
  ) {}

  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (path !== '/v1/wake') return false;
    if (req.method !== 'POST') reply(res, 405, { error: 'MethodNotAllowed', message: 'POST a wake here' });
    else if (authorised(req, res, this.token, 'a wake')) void this.receive(req, res);
    return true;
  }

  private async receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = await readJson(req, MAX_BODY_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLargeError) reply(res, 413, { error: 'BodyTooLarge', message: err.message });
      else
        reply(res, 400, {
          error: 'InvalidWake',
          message: `not JSON: ${(err as Error).message}`,
          field: 'body',
        });
      return;
    }
    const wake = parseWake(body);
    if ('field' in wake) {
      reply(res, 400, { error: 'InvalidWake', message: `${wake.field}: ${wake.message}`, field: wake.field });
      return;
    }
    const { span, context } = this.startSpan(req, `${wake.namespace}/${wake.name}`) ?? {};
    try {
      const outcome = await this.target.wake(wake.namespace, wake.name, wake.held, context);
      span?.setAttribute('nimbus.wake.outcome', outcome?.outcome ?? 'not-leader');
      if (outcome === undefined)
        reply(res, 409, {
          error: 'NotLeader',
          message: 'this controller replica does not lead; the leader acts',
        });
      else if (outcome.outcome === 'not-found')
        reply(res, 404, {
          error: 'FunctionNotFound',
          message: wake.name.includes('@')
            ? `no version ${wake.name} whose Function's traffic names it in namespace ${wake.namespace}`
            : `no Function ${wake.name} in namespace ${wake.namespace}`,
        });
      else reply(res, 200, outcome);
    } catch (err) {
      // The API server refused or is away: the gateway's next report carries the held requests,
      // and the next tick wakes the function from them.
      span?.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      reply(res, 502, { error: 'ScaleFailed', message: (err as Error).message });
    } finally {
      span?.setAttribute('http.response.status_code', res.statusCode);
      span?.end();
    }
  }

  /** The wake's server span in the held call's trace (the gateway's `wake` step is its parent). */
  private startSpan(req: IncomingMessage, key: string): { span: Span; context: Context } | undefined {
    const tracing = this.tracing;
    if (tracing?.tracer === undefined) return undefined;
    const parent = tracing.extract(req.headers);
    const span = tracing.tracer.startSpan(
      `wake ${key}`,
      { kind: SpanKind.SERVER, attributes: { 'nimbus.function': key } },
      parent,
    );
    return { span, context: trace.setSpan(parent, span) };
  }
}
