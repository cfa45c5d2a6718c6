import { isLiteralInternalPath } from '@nimbus/api/internal-path';
import { EXPOSITION_CONTENT_TYPE } from '../metrics/metrics.js';
import type { ReadinessReport } from './readiness.js';

/** Paths under this prefix belong to the runtime and never reach the handler. */
export const SYSTEM_PREFIX = '/_/';

/** Where a pool replica takes on a function over HTTP (POST). */
export const SPECIALISE_PATH = '/_/specialise';

const READ_ONLY_PATHS = new Set(['/_/health', '/_/ready', '/_/metrics']);

/** Every internal route, as counted in nimbus_runtime_system_requests_total. */
export const SYSTEM_ROUTES: ReadonlySet<string> = new Set([...READ_ONLY_PATHS, SPECIALISE_PATH]);

export interface SystemSources {
  report(): ReadinessReport;
  renderMetrics(): string;
}

export type SystemReply =
  | {
      readonly kind: 'json';
      readonly statusCode: number;
      readonly body: unknown;
      readonly headers?: Record<string, string>;
    }
  | {
      readonly kind: 'text';
      readonly statusCode: number;
      readonly body: string;
      readonly contentType: string;
    };

export function isSystemPath(path: string): boolean {
  return isLiteralInternalPath(path);
}

/** A path that reads as an internal route only once decoded or normalised: refused, never served. */
export function disguisedSystemPath(): Extract<SystemReply, { kind: 'json' }> {
  return {
    kind: 'json',
    statusCode: 400,
    body: {
      error:
        'this path reaches /_/ only once decoded or normalised; internal routes answer only their literal path',
      code: 'DisguisedInternalPath',
    },
  };
}

/** The reply to a request for one of the runtime's own endpoints. */
export function systemReply(method: string, path: string, sources: SystemSources): SystemReply {
  if (!READ_ONLY_PATHS.has(path)) return notFound(path);
  if (method !== 'GET' && method !== 'HEAD') {
    return {
      kind: 'json',
      statusCode: 405,
      body: { error: 'method not allowed; use GET' },
      headers: { allow: 'GET, HEAD' },
    };
  }
  switch (path) {
    case '/_/health':
      return { kind: 'json', statusCode: 200, body: { status: 'ok' } };
    case '/_/ready': {
      const report = sources.report();
      return { kind: 'json', statusCode: report.status === 'ready' ? 200 : 503, body: report };
    }
    case '/_/metrics':
      return {
        kind: 'text',
        statusCode: 200,
        body: sources.renderMetrics(),
        contentType: EXPOSITION_CONTENT_TYPE,
      };
    default:
      return notFound(path);
  }
}

export function notFound(path: string): Extract<SystemReply, { kind: 'json' }> {
  return { kind: 'json', statusCode: 404, body: { error: `no runtime endpoint at ${path}` } };
}
