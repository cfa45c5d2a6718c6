import type { IncomingMessage, ServerResponse } from 'node:http';
import { Problem, problems, sendProblem } from '../http/problems.js';
import { answerPreflight, responseCorsHeaders } from '../routing/cors.js';
import type { RouteTarget } from '../routing/http-routes.js';
import type { FunctionRoute, RouteTable } from '../routing/route-table.js';

/**
 * A request a Function's own route matched: the function, the parameters as JSON, and with auth
 * jwt what the route asks of a token besides the Function's own requirements.
 */
export interface RoutedCall {
  route: FunctionRoute;
  params: string;
  requirements: RouteTarget['jwt'];
}

/**
 * Finds the Function route for a request that no gateway prefix took. 'none' lets the caller
 * answer 404; 'answered' means a response went out here: a refused path, a 405 with Allow, or a
 * CORS preflight, which the gateway answers itself so that no function is woken for it. A match
 * comes back with the route's CORS headers already set on the response, for the function's own
 * headers to override.
 */
export function routeRequest(
  table: RouteTable,
  req: IncomingMessage,
  res: ServerResponse,
): RoutedCall | 'answered' | 'none' {
  const method = req.method ?? 'GET';
  const origin = req.headers.origin;
  const asked = req.headers['access-control-request-method'];
  const preflight = method === 'OPTIONS' && origin !== undefined && asked !== undefined;
  const url = req.url as string;
  const lookup = table.http.match(preflight ? asked : method, req.headers.host, url);
  switch (lookup.kind) {
    case 'none':
      return 'none';
    case 'refused':
      sendProblem(res, lookup.internal ? problems.internalRoute() : problems.malformedRequest(lookup.why));
      return 'answered';
    case 'method':
      sendProblem(
        res,
        preflight
          ? corsRefused(`the method ${JSON.stringify(asked.slice(0, 32))} is not allowed`)
          : problems.methodNotAllowed(
              `this route takes ${lookup.allow.join(', ')}, not ${method.slice(0, 32)}`,
              lookup.allow.join(', '),
            ),
      );
      return 'answered';
  }
  const { target, params } = lookup;
  const route = table.getByKey(target.fnKey);
  if (route === undefined) return 'none';
  if (preflight) {
    // A route without a CORS policy takes the OPTIONS request itself, if it serves OPTIONS.
    if (target.cors === undefined) return withoutPreflight(table, req, res);
    const answer = answerPreflight(
      target.cors,
      origin,
      asked,
      header(req.headers['access-control-request-headers']),
    );
    if (!answer.ok) sendProblem(res, corsRefused(answer.why));
    else {
      res.writeHead(204, answer.headers);
      res.end();
    }
    return 'answered';
  }
  if (target.cors !== undefined) {
    for (const [name, value] of responseCorsHeaders(target.cors, origin)) res.setHeader(name, value);
  }
  return { route, params, requirements: target.jwt };
}

function withoutPreflight(
  table: RouteTable,
  req: IncomingMessage,
  res: ServerResponse,
): RoutedCall | 'answered' | 'none' {
  const lookup = table.http.match('OPTIONS', req.headers.host, req.url as string);
  if (lookup.kind !== 'found') {
    sendProblem(res, corsRefused('this route takes no cross-origin calls: it has no CORS policy'));
    return 'answered';
  }
  const route = table.getByKey(lookup.target.fnKey);
  return route === undefined ? 'none' : { route, params: lookup.params, requirements: lookup.target.jwt };
}

const corsRefused = (why: string) => new Problem(403, 'CorsRefused', `CORS preflight refused: ${why}`);

const header = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value.join(',') : value;
