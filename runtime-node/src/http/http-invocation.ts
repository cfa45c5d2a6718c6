import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FunctionEvent } from '../contract.js';
import { Cancellation } from '../invoke/cancellation.js';
import { buildEvent } from '../invoke/event.js';
import type { InvocationRequest } from '../invoke/invocation-runner.js';
import { InvocationSpans, type OpenSpan } from '../invoke/invocation-spans.js';
import { type MaybePromise, isPromiseLike } from '../invoke/maybe-async.js';
import { readBody } from './read-body.js';

/** One HTTP request as the invocation runner sees it. */
export class HttpInvocation implements InvocationRequest {
  readonly cancellation = new Cancellation();
  readonly traceparent: string | undefined;
  /** Recorded only when the gateway asked for the spans of a sampled trace. */
  readonly spans: InvocationSpans | undefined;
  /** From arrival to the response: the replica's side of the call. */
  readonly span: OpenSpan | undefined;

  constructor(
    readonly invocationId: string,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly expectsContinue: boolean,
    private readonly maxBodyBytes: number,
  ) {
    const traceparent = req.headers.traceparent;
    this.traceparent = typeof traceparent === 'string' ? traceparent : undefined;
    this.spans = InvocationSpans.requested(req.headers);
    this.span = this.spans?.start('handler', 'server', undefined, { 'nimbus.invocation_id': invocationId });
  }

  readEvent(): MaybePromise<FunctionEvent> {
    const { req, maxBodyBytes } = this;
    // 100 Continue only for a body that will be accepted; an oversized one is refused unsent.
    if (this.expectsContinue && !(Number(req.headers['content-length'] ?? 0) > maxBodyBytes)) {
      this.res.writeContinue();
    }
    const rawBody = readBody(req, maxBodyBytes, this.cancellation);
    return isPromiseLike(rawBody) ? rawBody.then((bytes) => this.eventOf(bytes)) : this.eventOf(rawBody);
  }

  private eventOf(rawBody: Buffer): FunctionEvent {
    const { req } = this;
    return buildEvent({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, rawBody });
  }
}
