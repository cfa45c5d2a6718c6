import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@nimbus/api';
import { AUTH_CLAIMS_HEADER } from '@nimbus/api/gateway-headers';
import { VERSION_HEADER } from '@nimbus/api/traffic';
import { CallExistsError, type CallRecord, type CallStore } from '@nimbus/store';
import type { Tracing } from '@nimbus/telemetry';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import { type JwtAdmission, signIn, tokenHeaderKept } from '../auth/jwt-verifier.js';
import { checkScope } from '../auth/require-scope.js';
import type { GatewayConfig } from '../config.js';
import type { EgressGuard } from '../egress/egress-guard.js';
import { parseEgressUrl } from '../egress/egress-policy.js';
import { endToEndHeaders, isCallId } from '../http/headers.js';
import { Problem, problemOf, problems, sendProblem } from '../http/problems.js';
import { readBody } from '../http/read-body.js';
import { ASYNC_PREFIX, parseInvokePath } from '../invoke/function-path.js';
import { unknownFunction } from '../invoke/unknown-function.js';
import { pinOf, pinnedVersionOf } from '../invoke/version-pick.js';
import type { AsyncMetrics } from '../metrics/async-metrics.js';
import type { Readiness } from '../ports.js';
import type { SignedIn } from '../quotas/rate-limit-plan.js';
import type { RateLimiter } from '../quotas/rate-limiter.js';
import type { RouteTable } from '../routing/route-table.js';
import { type CallRequest, encodeCall } from './call-message.js';
import type { CallQueue } from './call-queue.js';
import { cancelTokenMatches, hashCancelToken, newCancelToken, publicCallView } from './call-views.js';
import { EnqueueSpan } from './enqueue-span.js';

/** Request headers that describe the async request itself, not the call the function receives. */
const NOT_FORWARDED = new Set(['content-length', 'x-callback-url']);

export interface FrontDoorDeps {
  readonly config: GatewayConfig;
  readonly routes: RouteTable;
  readonly keys: ApiKeyVerifier;
  /** Sign-in for Functions with auth jwt. */
  readonly jwt: JwtAdmission;
  readonly limiter: Pick<RateLimiter, 'check'>;
  readonly calls: CallStore;
  readonly queue: CallQueue;
  readonly metrics: AsyncMetrics;
  readonly log: Logger;
  readonly now: () => number;
  /** Where a callback may go; checked before the call is accepted, and again by the sender. */
  readonly egress: EgressGuard;
  /** Whether the gateway has read its Functions: a name unknown before then is not yet a 404. */
  readonly readiness: Readiness;
  /** An enqueue span for each POST, whose context the call's message carries; absent, or without a tracer, none. */
  readonly tracing?: Tracing;
}

/** What a POST ended with: the record's status, and whether an earlier request with the same id had made it. */
interface Accepted {
  readonly status: CallRecord['status'];
  readonly duplicate: boolean;
  /** The token that cancels the call, for the request that queued it (never for a duplicate). */
  readonly cancelToken?: string;
}

/**
 * `POST /async-function/{name}[.{namespace}][/rest]` and `DELETE /async-function/{id}`.
 *
 * A POST is refused, as the sync path would refuse it, before anything is stored (name, function,
 * key, rate limit, size, a handler that cannot load); then the call record is created (queued) and the request
 * published to `nimbus.calls.<namespace>.<function>` with the call id as JetStream's message id.
 * 202 goes out only once the stream has acknowledged the message. When it cannot be published,
 * the record is marked failed ("not queued: …") and the answer is 503: nothing claims to be queued.
 *
 * The same X-Call-Id again is idempotent: 202 with the same id, and the message is stored once
 * (a still-queued call is published again under the same message id, which JetStream drops as a
 * duplicate, or stores if the first publish never landed). A call that failed to queue is queued
 * again under a fresh message id. A cancelled one gets 409, and so does an id naming another function.
 *
 * A call id is no secret (callers choose them, logs and receivers see them), so it is not enough
 * to cancel a call or see where its callback goes: the 202 that queues a call carries a cancel
 * token (X-Cancel-Token and `cancelToken`; the record keeps only its hash), and DELETE needs it
 * or an admin key. No answer here shows a callback URL.
 */
export class AsyncFrontDoor {
  constructor(private readonly deps: FrontDoorDeps) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    const work =
      req.method === 'POST'
        ? this.accept(req, res)
        : req.method === 'DELETE'
          ? this.cancel(req, res)
          : Promise.reject(
              problems.methodNotAllowed(
                'POST /async-function/{name} queues a call; DELETE /async-function/{id} cancels one',
                'POST, DELETE',
              ),
            );
    work.catch((err: unknown) => {
      const problem = problemOf(err);
      if (problem.status >= 500 && !(err instanceof Problem))
        this.deps.log.error('async request failed', { url: req.url, err: problem.cause ?? err });
      sendProblem(res, problem);
    });
  }

  private async accept(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { config, routes, keys, queue } = this.deps;
    const url = req.url as string;
    // Undefined with tracing off: every use below is one check.
    const span = EnqueueSpan.start(this.deps.tracing, req, res);
    const target = parseInvokePath(url, config.defaultNamespace, ASYNC_PREFIX, config.openfaasNamespace);
    if ('invalid' in target) throw problems.invalidFunctionName(target.invalid);
    if (target.internal) throw problems.internalRoute();
    const route = routes.get(target.namespace, target.name);
    if (route === undefined) throw unknownFunction(this.deps.readiness, target.name, target.namespace);
    span?.admitted(route.namespace, route.name);
    let consumed: string | undefined;
    if (route.auth === 'key') {
      const denied = checkScope(keys, req.headers.authorization, 'invoke');
      if (denied !== undefined) throw denied;
      consumed = 'authorization';
    }
    // The claims go with the queued call, as the sync path hands them over: the function acts on
    // who called when it runs. They are what the token said when the call was accepted.
    let claims: string | undefined;
    let signedIn: SignedIn | undefined;
    if (route.auth === 'jwt') {
      // Called by name: every requirement of the Function's routes holds too (HttpRoutes.requirementsOf).
      const verified = await signIn(
        this.deps.jwt,
        route,
        req.headers.authorization,
        this.deps.routes.http.requirementsOf(route.key),
      );
      if (verified instanceof Problem) {
        res.setHeader('connection', 'close');
        throw verified;
      }
      claims = verified.claimsHeader;
      signedIn = verified.claims;
      consumed = tokenHeaderKept(route.jwt);
    }
    // Before anything is stored or queued: a call over a limit never gets a 202, nor a dead letter.
    const limited = await this.deps.limiter.check(route, req.headers.authorization, signedIn);
    if (limited !== undefined) {
      res.setHeader('connection', 'close');
      throw limited;
    }
    // A pin (header or `@tag`) is checked now, so a call no version can take is never queued; the
    // version it names goes with the call, and every attempt goes there (Invoker.call).
    const pinned = pinnedVersionOf(routes, route, {
      pin: pinOf(req.headers[VERSION_HEADER]),
      tag: target.tag,
    });
    if (pinned instanceof Problem) throw pinned;
    const id = callIdOf(req.headers['x-call-id']);
    const callbackUrl = await this.callbackUrlOf(req.headers['x-callback-url']);
    const limit = Math.min(config.maxBodyBytes, config.async.maxBodyBytes);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      res.setHeader('connection', 'close');
      throw problems.bodyTooLarge(limit);
    }
    if (route.endpoints.length === 0 && route.failure !== undefined)
      throw problems.unavailable(route.name, route.failure);
    const notReady = queue.unavailableReason();
    if (notReady !== undefined) throw problems.queueUnavailable(notReady);
    const body = await readBody(req, limit, res);
    const headers = forwardedHeaders(req, consumed, id);
    if (claims !== undefined) headers[AUTH_CLAIMS_HEADER] = claims;
    if (pinned !== undefined) headers[VERSION_HEADER] = pinned;
    const traced = span?.queuing(id);
    const call: CallRequest = {
      id,
      namespace: route.namespace,
      function: route.name,
      method: 'POST',
      path: target.upstreamPath,
      headers,
      body,
      callbackUrl,
      acceptedAt: this.deps.now(),
      traceContext: traced?.traceContext,
    };
    let accepted: Accepted;
    try {
      accepted = await this.enqueue(call, traced?.traceId);
    } catch (err) {
      // The id goes back with a 503, so the caller can send the call again under it; its record,
      // if one was made, says it was not queued.
      const problem = problemOf(err);
      sendProblem(res, problem, problem.status === 503 ? { callId: id } : {});
      return;
    }
    if (!accepted.duplicate) this.deps.metrics.count('accepted', route.key);
    else span?.duplicate();
    const text = JSON.stringify({
      id,
      status: accepted.status,
      ...(accepted.duplicate ? { duplicate: true } : {}),
      ...(accepted.cancelToken === undefined ? {} : { cancelToken: accepted.cancelToken }),
    });
    res.writeHead(202, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'x-call-id': id,
      ...(accepted.cancelToken === undefined ? {} : { 'x-cancel-token': accepted.cancelToken }),
      location: `/system/calls/${id}`,
    });
    res.end(text);
  }

  /** `traceId`: the trace the call's record links to, when this request's is sampled. */
  private async enqueue(call: CallRequest, traceId: string | undefined): Promise<Accepted> {
    const { calls } = this.deps;
    const cancelToken = newCancelToken();
    const cancelTokenHash = hashCancelToken(cancelToken);
    let record: CallRecord | undefined;
    try {
      await calls.create({
        id: call.id,
        namespace: call.namespace,
        function: call.function,
        createdAt: call.acceptedAt,
        cancelTokenHash,
        ...(call.callbackUrl === undefined ? {} : { callbackUrl: call.callbackUrl }),
        ...(traceId === undefined ? {} : { traceId }),
      });
    } catch (err) {
      if (!(err instanceof CallExistsError)) throw err;
      record = await calls.get(call.id);
    }
    if (record === undefined) {
      await this.publishOrMarkFailed(call, call.id);
      return { status: 'queued', duplicate: false, cancelToken };
    }
    if (record.namespace !== call.namespace || record.function !== call.function)
      throw problems.callIdInUse(call.id, `${record.function}.${record.namespace}`);
    if (record.status === 'cancelled') throw problems.callCancelled(call.id);
    if (record.status === 'failed' && record.attempts === 0) {
      // It never made it into the queue. Its message id may still sit in the duplicate window
      // (a publish that timed out may have landed), so this one gets an id of its own.
      // The one who queues it now holds its cancel token; the first request's got a 503.
      const again = await calls.transition(call.id, ['failed'], {
        status: 'queued',
        cancelTokenHash,
        ...(traceId === undefined ? {} : { traceId }),
      });
      if (again.applied) {
        await this.publishOrMarkFailed(call, `${call.id}:${call.acceptedAt}`);
        return { status: 'queued', duplicate: false, cancelToken };
      }
      record = again.record ?? record;
    }
    if (record.status === 'queued' && record.attempts === 0) {
      // Perhaps the first request's publish never happened (a gateway that died in between):
      // publishing again under the call id stores it then, and is dropped as a duplicate otherwise.
      // A failure here says nothing about the first request's message, so the record stays queued.
      await this.deps.queue.publish(...publishArgs(call, call.id));
    }
    return { status: record.status, duplicate: true };
  }

  private async publishOrMarkFailed(call: CallRequest, msgId: string): Promise<void> {
    try {
      await this.deps.queue.publish(...publishArgs(call, msgId));
    } catch (err) {
      const reason = (err as Error).message;
      await this.deps.calls
        .transition(call.id, ['queued'], {
          status: 'failed',
          finishedAt: this.deps.now(),
          lastError: `not queued: ${reason}`,
        })
        .catch((markErr: unknown) =>
          this.deps.log.error('a call that could not be queued is still recorded as queued', {
            callId: call.id,
            err: (markErr as Error).message,
          }),
        );
      throw problems.queueUnavailable(reason, err);
    }
  }

  /**
   * The X-Callback-Url, refused with 400 before anything is stored when its callback could never
   * be delivered: not http(s), credentials in it, or a destination the egress policy forbids
   * (a Nimbus component, a metadata, loopback or private address, or a name resolving to one).
   */
  private async callbackUrlOf(header: string | string[] | undefined): Promise<string | undefined> {
    if (header === undefined) return undefined;
    const text = Array.isArray(header) ? header.join(',') : header;
    const parsed = parseEgressUrl(text);
    if ('refused' in parsed) {
      throw parsed.malformed
        ? problems.invalidCallbackUrl(text)
        : problems.callbackUrlRefused(parsed.refused);
    }
    const refused = await this.deps.egress.refusal(text);
    if (refused !== undefined) throw problems.callbackUrlRefused(refused);
    return text;
  }

  /**
   * Needs the call's cancel token (X-Cancel-Token) or an admin key. Without either, 401 before
   * the id is looked up; a token that does not match, or names no call, 403, so a token says
   * nothing about which ids exist.
   */
  private async cancel(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { calls, keys } = this.deps;
    const raw = (req.url as string).slice(ASYNC_PREFIX.length).split('?', 1)[0] as string;
    if (!isCallId(raw)) throw problems.invalidCallId(raw);
    const header = req.headers['x-cancel-token'];
    const token = Array.isArray(header) ? header.join(',') : header;
    if (token === undefined) {
      if (req.headers.authorization === undefined) throw problems.cancelNeedsToken(raw);
      const denied = checkScope(keys, req.headers.authorization, 'admin');
      if (denied !== undefined) throw denied;
    }
    const record = await calls.get(raw);
    if (token !== undefined && !cancelTokenMatches(token, record?.cancelTokenHash))
      throw problems.cancelTokenInvalid(raw);
    if (record === undefined) throw problems.callNotFound(raw);
    const done = await calls.transition(raw, ['queued'], {
      status: 'cancelled',
      finishedAt: this.deps.now(),
    });
    if (!done.applied) {
      if (done.record === undefined) throw problems.callNotFound(raw);
      throw problems.callNotCancellable(raw, done.record.status);
    }
    this.deps.metrics.count('cancelled', `${record.namespace}/${record.function}`);
    const text = JSON.stringify(publicCallView(done.record as CallRecord));
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

function publishArgs(call: CallRequest, msgId: string) {
  const message = encodeCall(call, msgId);
  return [message.subject, message.data, message.options] as const;
}

function callIdOf(header: string | string[] | undefined): string {
  if (header === undefined) return randomUUID();
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!isCallId(text)) throw problems.invalidCallId(text);
  return text;
}

/** The headers the function will see: the end-to-end ones, the call id, and who sent it. */
function forwardedHeaders(
  req: IncomingMessage,
  consumed: string | undefined,
  id: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(endToEndHeaders(req.headers, consumed))) {
    if (value === undefined || NOT_FORWARDED.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  out['x-call-id'] = id;
  const peer = req.socket.remoteAddress ?? '';
  const forwardedFor = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
  return out;
}
