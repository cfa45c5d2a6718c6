import type { ServerResponse } from 'node:http';

/**
 * A failure the caller should hear about, with the status it maps to. Every error the gateway
 * answers with goes through here, so the JSON shape and the status codes live in one place.
 */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'Problem';
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
  unauthenticated: () =>
    new Problem(401, 'Unauthenticated', 'an API key is required: send Authorization: Bearer <key>', {
      'www-authenticate': 'Bearer realm="nimbus"',
    }),
  forbidden: (scope: string) => new Problem(403, 'Forbidden', `this API key lacks the ${scope} scope`),
  functionNotFound: (name: string, namespace: string) =>
    new Problem(404, 'FunctionNotFound', `function ${name} not found in namespace ${namespace}`),
  routeNotFound: (path: string) => new Problem(404, 'RouteNotFound', `no route for ${printable(path)}`),
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
  timeout: (name: string, ms: number) =>
    new Problem(504, 'FunctionTimeout', `function ${name} did not answer within ${ms} ms`),
};

function messageOf(error: unknown): string {
  if (error instanceof Error)
    return 'code' in error && typeof error.code === 'string' ? error.code : error.message;
  return String(error);
}

/** Shows control characters escaped, so a hostile path cannot forge log lines or headers. */
function printable(text: string): string {
  const clipped = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  let out = '';
  for (const c of clipped) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return out;
}

/** Writes a problem as JSON; an error that is not a Problem becomes a 500 without its stack. */
export function sendProblem(
  res: ServerResponse,
  error: unknown,
  extra: Readonly<Record<string, string>> = {},
): void {
  const problem = error instanceof Problem ? error : new Problem(500, 'InternalError', 'internal error');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: problem.message, code: problem.code, ...extra });
  res.writeHead(problem.status, {
    ...problem.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
