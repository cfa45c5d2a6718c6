import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@nimbus/api/log';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  HttpError,
  MethodNotAllowedError,
  UnauthorizedError,
  errorResponse,
} from '../http/http-errors.js';
import { readBody } from '../http/read-body.js';
import { writeError, writeJson } from '../http/response-writer.js';
import type { RouteOptions, SpecialiseRoute } from '../http/runtime-server.js';
import { SPECIALISE_PATH, notFound } from '../http/system-routes.js';
import { Cancellation } from '../invoke/cancellation.js';
import { specialiseAccess } from './specialise-access.js';

/** How a pool replica answered one specialise command. */
export type SpecialiseOutcome =
  | { readonly kind: 'accepted' }
  /** The settings cannot be used; nothing was applied and the replica is still generic. */
  | { readonly kind: 'invalid'; readonly field: string; readonly reason: string }
  /** It has taken on a function already, or it is shutting down. */
  | { readonly kind: 'refused'; readonly reason: string };

export interface Specialiser {
  /** Why a specialise would be refused now, or undefined while it would be accepted. */
  readonly refusal: string | undefined;
  /** `files`, when given, is the function's code (relative path to text), written before it loads. */
  specialise(env: unknown, files?: unknown): SpecialiseOutcome;
}

/** Settings, env vars and the code of one inline function (at most 1 MiB), JSON-escaped. */
const MAX_BODY_BYTES = 3 * 1_048_576;

/**
 * `POST /_/specialise` with `{ "env": { ... }, "files": { "index.mjs": "..." } }` (files optional):
 * 202 accepted, 400 bad settings, 409 already specialised.
 */
export class SpecialiseEndpoint implements SpecialiseRoute {
  constructor(
    /** The pool token; undefined: no HTTP caller may specialise (local mode, IPC only). */
    private readonly token: string | undefined,
    private readonly specialiser: Specialiser,
    private readonly logger: Logger,
  ) {}

  serve(req: IncomingMessage, res: ServerResponse, options: RouteOptions): void {
    this.accept(req, res, options.expectsContinue).then(
      () =>
        writeJson(res, 202, { status: 'specialising' }, { invocationId: undefined, close: options.close }),
      (error: unknown) => {
        if (!(error instanceof HttpError)) {
          this.logger.error('specialise request failed', {
            error: error instanceof Error ? error : String(error),
          });
        }
        // A refused request's body may be unread, and cannot be skipped safely.
        const close = options.close || !req.complete;
        if (!res.headersSent && !res.destroyed) {
          writeError(res, errorResponse(error, undefined, false), { invocationId: undefined, close });
        }
      },
    );
  }

  /** Resolves once the specialise is accepted; rejects with the HttpError to answer otherwise. */
  private async accept(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    if (req.method !== 'POST') throw new MethodNotAllowedError('POST');
    const remoteAddress = req.socket.remoteAddress;
    const access = specialiseAccess({ authorization: req.headers.authorization }, this.token);
    if (!access.allowed) {
      this.logger.warn('specialise request refused', { remoteAddress, statusCode: access.statusCode });
      throw access.statusCode === 401
        ? new UnauthorizedError(access.reason)
        : new ForbiddenError(access.reason);
    }
    // Checked before the body is read, and again by specialise() for a race with another command.
    const refusal = this.specialiser.refusal;
    if (refusal !== undefined) throw new ConflictError(refusal);
    if (expectsContinue) res.writeContinue();
    const cancellation = new Cancellation();
    res.once('close', () => cancellation.abort(new Error('client disconnected')));
    const payload = parseJson(await readBody(req, MAX_BODY_BYTES, cancellation));
    const outcome = this.specialiser.specialise(payload.env, payload.files);
    if (outcome.kind === 'invalid') throw new BadRequestError(outcome.reason, { field: outcome.field });
    if (outcome.kind === 'refused') throw new ConflictError(outcome.reason);
  }
}

function parseJson(body: Buffer): { env?: unknown; files?: unknown } {
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadRequestError(
      'the body must be JSON: { "env": { "NAME": "value", ... } }',
      { field: 'body' },
      { cause: error },
    );
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new BadRequestError('the body must be a JSON object with an "env" object', { field: 'body' });
  }
  return payload as { env?: unknown; files?: unknown };
}

/** In a replica started for its function there is nothing to specialise: the path does not exist. */
export const noSpecialiseRoute: SpecialiseRoute = {
  serve(req, res, options) {
    const reply = notFound(SPECIALISE_PATH);
    writeJson(res, reply.statusCode, reply.body, {
      invocationId: undefined,
      close: options.close || !req.complete,
    });
  },
};
