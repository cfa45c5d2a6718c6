import type { ServerResponse } from 'node:http';
import { type FieldError, formatFieldErrors } from '@nimbus/api';
import { BusUnavailableError } from '@nimbus/bus';
// The errors module alone: the package index would load @kubernetes/client-node into local mode.
import { KubeApiError } from '@nimbus/kube/errors';
import { InvalidStoreInputError, StoreUnavailableError } from '@nimbus/store';

/** One field a refusal names, as `spec.scale.min`. */
export type ProblemField = FieldError;

/**
 * A failure the caller should hear about, with the status it maps to. Every error the gateway
 * answers with goes through here, so the JSON shape and the status codes live in one place.
 */
export class Problem extends Error {
  /** The fields a refused body got wrong, sent as `fields` so a client can point at them. */
  readonly fields: readonly ProblemField[] | undefined;
  /** More of the body, such as the limit a 429 names. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: ErrorOptions & { fields?: readonly ProblemField[]; details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = 'Problem';
    this.fields = options?.fields;
    this.details = options?.details;
  }
}

export const problems = {
  invalidFunctionName: (raw: string) =>
    new Problem(
      400,
      'InvalidFunctionName',
      `"${printable(raw)}" is not a function name: use a lower-case RFC 1035 label, optionally followed by .<namespace>`,
    ),
  malformedRequest: (why: string) => new Problem(400, 'MalformedRequest', why),
  invalidNamespace: (raw: string) =>
    new Problem(
      400,
      'InvalidNamespace',
      `"${printable(raw)}" is not a namespace: use a lower-case RFC 1123 label`,
    ),
  namespaceNotWatched: (namespace: string, watched: readonly string[]) =>
    new Problem(
      400,
      'NamespaceNotWatched',
      `this gateway serves Functions in ${watched.join(', ')} only (NIMBUS_WATCH_NAMESPACES), not in ${namespace}`,
    ),
  invalidFunction: (fields: readonly ProblemField[]) =>
    new Problem(
      422,
      'InvalidFunction',
      `the Function is not valid: ${formatFieldErrors(fields)}`,
      {},
      { fields },
    ),
  methodNotAllowed: (why: string, allow: string) => new Problem(405, 'MethodNotAllowed', why, { allow }),
  unauthenticated: () =>
    new Problem(401, 'Unauthenticated', 'an API key is required: send Authorization: Bearer <key>', {
      'www-authenticate': 'Bearer realm="nimbus"',
    }),
  forbidden: (scope: string) => new Problem(403, 'Forbidden', `this API key lacks the ${scope} scope`),
  /**
   * A bearer token refused (spec.http.auth jwt): `reason` names why, as a code a client can act
   * on, and WWW-Authenticate says it as RFC 6750 does (no error code when no token came).
   */
  invalidToken: (reason: string, description: string) =>
    new Problem(
      401,
      'InvalidToken',
      description,
      {
        'www-authenticate':
          reason === 'missing_token'
            ? 'Bearer realm="nimbus"'
            : `Bearer realm="nimbus", error="invalid_token", error_description="${quotable(description)}"`,
      },
      { details: { reason } },
    ),
  /** A valid token without a scope or claim value the function (or route) requires. */
  insufficientScope: (reason: 'missing_scope' | 'missing_claim', description: string, scope?: string) =>
    new Problem(
      403,
      'InsufficientScope',
      description,
      {
        'www-authenticate': `Bearer realm="nimbus", error="insufficient_scope", error_description="${quotable(description)}"${scope === undefined ? '' : `, scope="${quotable(scope)}"`}`,
      },
      { details: { reason } },
    ),
  /** The identity provider's keys could not be had: not the caller's fault, so not 401. */
  identityProviderUnavailable: (summary: string, cause?: unknown) =>
    new Problem(
      503,
      'IdentityProviderUnavailable',
      `${summary}, so no token can be checked now; try again later`,
      { 'retry-after': '5' },
      { cause, details: { reason: 'jwks_unavailable' } },
    ),
  /** A pin (X-Nimbus-Version, `/function/{name}@{tag}`) that names no version the Function's traffic reaches. */
  versionNotReachable: (name: string, asked: string) =>
    new Problem(
      404,
      'VersionNotFound',
      `function ${name} has no version or tag ${JSON.stringify(asked.slice(0, 64))} that takes calls`,
    ),
  /** A versioned Function the controller has not given traffic yet (no version built). */
  noVersionYet: (name: string) =>
    new Problem(503, 'NoVersionReady', `no version of function ${name} is ready yet`, {
      'retry-after': '1',
    }),
  functionNotFound: (name: string, namespace: string) =>
    new Problem(404, 'FunctionNotFound', `function ${name} not found in namespace ${namespace}`),
  internalRoute: () =>
    new Problem(
      404,
      'InternalRouteNotForwarded',
      "paths under /_/ are the runtime's internal routes (health, readiness, metrics, specialisation) and are not forwarded, however they are spelled",
    ),
  routeNotFound: (path: string) => new Problem(404, 'RouteNotFound', `no route for ${printable(path)}`),
  rateLimited: (
    fn: { name: string; namespace: string },
    limit: { scope: string; perSecond: number; burst: number },
    retryAfterSeconds: number,
  ) =>
    new Problem(
      429,
      'RateLimited',
      `${limitName(limit.scope, fn)} allows ${limit.perSecond} calls per second (burst ${limit.burst}); retry after ${retryAfterSeconds} s`,
      { 'retry-after': String(retryAfterSeconds) },
      {
        details: {
          limit: {
            scope: limit.scope,
            function: `${fn.name}.${fn.namespace}`,
            requestsPerSecond: limit.perSecond,
            burst: limit.burst,
          },
          retryAfterSeconds,
        },
      },
    ),
  bodyTooLarge: (limit: number) =>
    new Problem(413, 'BodyTooLarge', `request body exceeds the limit of ${limit} bytes`),
  badGateway: (name: string, cause: unknown) =>
    new Problem(
      502,
      'UpstreamFailed',
      `function ${name} failed to answer: ${messageOf(cause)}`,
      {},
      { cause },
    ),
  unavailable: (name: string, reason: string) =>
    new Problem(503, 'FunctionUnavailable', `function ${name} has no ready replica: ${reason}`, {
      'retry-after': '1',
    }),
  holdQueueFull: (name: string, size: number) =>
    new Problem(
      503,
      'HoldQueueFull',
      `function ${name} has no ready replica and ${size} requests already wait for one`,
      { 'retry-after': '1' },
    ),
  /** A container function's replicas are all at their concurrency, and its queue is full. */
  replicasBusy: (name: string, concurrency: number, queued: number) =>
    new Problem(
      429,
      'ReplicasBusy',
      `function ${name} has every replica at its concurrency (${concurrency}) and ${queued} requests queued; retry later`,
      { 'retry-after': '1' },
    ),
  /** A queued request found no replica with room within the function's timeout. */
  replicasStayedBusy: (name: string, ms: number) =>
    new Problem(503, 'ReplicasBusy', `function ${name} had no replica with room within ${ms} ms`, {
      'retry-after': '1',
    }),
  cancelled: (name: string) =>
    new Problem(499, 'CallCancelled', `the call to function ${name} was cancelled`),
  timeout: (name: string, ms: number) =>
    new Problem(504, 'FunctionTimeout', `function ${name} did not answer within ${ms} ms`),
  invalidCallId: (raw: string) =>
    new Problem(
      400,
      'InvalidCallId',
      `X-Call-Id "${printable(raw)}" is not a call id: use 1-128 letters, digits, ".", "_" or "-"`,
    ),
  invalidCallbackUrl: (raw: string) =>
    new Problem(
      400,
      'InvalidCallbackUrl',
      `X-Callback-Url "${printable(raw)}" is not an http:// or https:// URL of at most 2048 characters`,
    ),
  /** An X-Callback-Url the egress policy will not let a callback reach (egress/egress-policy.ts). */
  callbackUrlRefused: (why: string) =>
    new Problem(400, 'CallbackUrlRefused', `X-Callback-Url refused: ${why}`),
  callNotFound: (id: string) =>
    new Problem(
      404,
      'CallNotFound',
      `no async call with id ${printable(id)} (unknown, or its record expired)`,
    ),
  callIdInUse: (id: string, fn: string) =>
    new Problem(409, 'CallIdInUse', `X-Call-Id ${printable(id)} already names a call to function ${fn}`),
  callCancelled: (id: string) =>
    new Problem(409, 'CallCancelled', `call ${printable(id)} was cancelled; send it with a new X-Call-Id`),
  callNotCancellable: (id: string, status: string) =>
    new Problem(
      409,
      'CallNotCancellable',
      `call ${printable(id)} is ${status}; only a queued call can be cancelled`,
    ),
  cancelNeedsToken: (id: string) =>
    new Problem(
      401,
      'CancelTokenRequired',
      `cancelling call ${printable(id)} needs its cancel token (X-Cancel-Token, from the 202 that queued it) or an admin key (Authorization: Bearer <key>)`,
      { 'www-authenticate': 'Bearer realm="nimbus"' },
    ),
  cancelTokenInvalid: (id: string) =>
    new Problem(
      403,
      'CancelTokenInvalid',
      `the X-Cancel-Token does not cancel call ${printable(id)}: it is not the token its 202 gave out`,
    ),
  deadLetterTruncated: (id: string, size: number, kept: number) =>
    new Problem(
      409,
      'DeadLetterTruncated',
      `dead letter ${printable(id)} kept only ${kept} of its ${size}-byte request body (NIMBUS_DEAD_LETTER_MAX_BODY_BYTES), so it cannot be sent again as it was; read it, then delete it`,
    ),
  deadLetterCredentialsRemoved: (id: string, headers: readonly string[]) =>
    new Problem(
      409,
      'DeadLetterCredentialsRemoved',
      `dead letter ${printable(id)} was kept without its ${headers.map(printable).join(', ')} header(s), as no credential is stored, so it cannot be sent again as it was; POST it to ?withoutCredentials=true to run it without them, or have its caller send the call again`,
    ),
  deadLetterNotFound: (id: string) =>
    new Problem(404, 'DeadLetterNotFound', `no dead letter with id ${printable(id)}`),
  deadLetterStale: (id: string, status: string) =>
    new Problem(
      409,
      'DeadLetterStale',
      `call ${printable(id)} is ${status} now, not failed; its dead letter was kept and not redriven`,
    ),
  queueUnavailable: (reason: string, cause?: unknown) =>
    new Problem(
      503,
      'QueueUnavailable',
      `the call was not queued: ${reason}; nothing will run, send it again`,
      { 'retry-after': '1' },
      { cause },
    ),
  storeUnavailable: (cause: unknown) =>
    new Problem(
      503,
      'StoreUnavailable',
      'the call records cannot be reached (Redis); try again',
      { 'retry-after': '1' },
      { cause },
    ),
};

function limitName(scope: string, fn: { name: string; namespace: string }): string {
  if (scope === 'key') return "this API key's rate limit";
  if (scope === 'anonymous') return `the rate limit for callers without a key of function ${fn.name}`;
  if (scope === 'caller') return `your own rate limit on function ${fn.name}`;
  return `the rate limit of function ${fn.name}`;
}

function messageOf(error: unknown): string {
  if (error instanceof Error)
    return 'code' in error && typeof error.code === 'string' ? error.code : error.message;
  return String(error);
}

/** Shows control characters escaped, so a hostile path cannot forge log lines or headers. */
/** Text safe inside a quoted-string of a header: printable ASCII without `"` or `\`. */
function quotable(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, "'");
}

function printable(text: string): string {
  const clipped = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  let out = '';
  for (const c of clipped) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return out;
}

/**
 * What the caller hears when the API server refuses or fails a request the gateway made for it.
 * The server's own message is kept (it names the object and the field); the status says whose
 * fault it is: the caller's request (4xx as the server gave it), the gateway's own permissions
 * (502: the caller's key is fine, so a 403 would send them looking in the wrong place), or the
 * API server's availability (503, worth retrying).
 */
export function problemFromKube(err: KubeApiError): Problem {
  const options = { cause: err };
  const { code, reason, message } = err;
  if (code === 0 || code >= 500 || code === 429) {
    return new Problem(
      503,
      'KubernetesUnavailable',
      code === 429
        ? 'the Kubernetes API is overloaded; try again'
        : 'the Kubernetes API is unreachable; try again',
      { 'retry-after': '5' },
      options,
    );
  }
  switch (code) {
    case 400:
      return new Problem(400, 'MalformedRequest', message, {}, options);
    case 401:
      return new Problem(
        502,
        'KubernetesCredentials',
        `the Kubernetes API refused the gateway's credentials: ${message}`,
        {},
        options,
      );
    case 403:
      return new Problem(
        502,
        'KubernetesForbidden',
        `the gateway's service account lacks the permission for this; grant it in the gateway's RBAC role: ${message}`,
        {},
        options,
      );
    case 404:
      return new Problem(404, 'NotFound', message, {}, options);
    case 409:
      return new Problem(
        409,
        reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict',
        message,
        {},
        options,
      );
    case 413:
      return new Problem(413, 'BodyTooLarge', message, {}, options);
    case 422: {
      const fields = err.causes.map((c) => ({
        field: c.field ?? '(document)',
        message: c.message ?? c.reason ?? 'is not valid',
      }));
      return new Problem(422, 'InvalidFunction', message, {}, { ...options, fields });
    }
    default:
      return new Problem(
        502,
        'KubernetesError',
        `the Kubernetes API answered ${code} ${reason}: ${message}`,
        {},
        options,
      );
  }
}

/** The problem an error is answered with; anything unforeseen is a 500 that shows no internals. */
export function problemOf(error: unknown): Problem {
  if (error instanceof Problem) return error;
  if (error instanceof KubeApiError) return problemFromKube(error);
  if (error instanceof StoreUnavailableError) return problems.storeUnavailable(error);
  if (error instanceof BusUnavailableError) return problems.queueUnavailable(error.message, error);
  if (error instanceof InvalidStoreInputError)
    return new Problem(400, 'InvalidRequest', error.message, {}, { cause: error });
  return new Problem(500, 'InternalError', 'internal error', {}, { cause: error });
}

/** Writes a problem as JSON; an error that is not a Problem is mapped by `problemOf`, never with a stack. */
export function sendProblem(
  res: ServerResponse,
  error: unknown,
  extra: Readonly<Record<string, string>> = {},
): void {
  const problem = problemOf(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const fields = problem.fields === undefined ? {} : { fields: problem.fields };
  const body = JSON.stringify({
    error: problem.message,
    code: problem.code,
    ...fields,
    ...problem.details,
    ...extra,
  });
  res.writeHead(problem.status, {
    ...problem.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
