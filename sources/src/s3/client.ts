import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3Credentials, S3Target } from './config.js';

/** How long one request to the store may take, and its connect (ms). */
export const REQUEST_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A client for one trigger's store. Path-style requests (`<endpoint>/<bucket>/<key>`), which every
 * S3-compatible store takes; checksums only where S3 requires them, which stores other than AWS
 * may not compute. Two attempts per request: the poller's own loop retries after that.
 */
export function s3Client(target: S3Target, credentials: S3Credentials): S3Client {
  return new S3Client({
    endpoint: target.endpoint,
    region: target.region,
    credentials,
    forcePathStyle: true,
    maxAttempts: 2,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: CONNECT_TIMEOUT_MS },
  });
}

/** The HTTP status of a store's answer, undefined when there was none (a refused connection). */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode;
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The S3 error code (NoSuchBucket, InvalidAccessKeyId, AccessDenied), or the error's name. */
export function codeOf(err: unknown): string {
  if (err instanceof Error) return (err as { Code?: string }).Code ?? err.name;
  return 'Error';
}

/**
 * A failure in words, for health and logs: what was done, the store's code and status, with every
 * credential cut out (a store may echo the access key back, and a message could carry anything).
 */
export function describeFailure(what: string, err: unknown, credentials?: S3Credentials): string {
  const status = statusOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const code = codeOf(err);
  const detail =
    status === undefined
      ? message
      : `${code} (HTTP ${status})${message && message !== code && message !== 'UnknownError' ? `: ${message}` : ''}`;
  return redact(`${what}: ${detail}`, credentials);
}

export function redact(text: string, credentials?: S3Credentials): string {
  let out = text;
  for (const secret of [credentials?.secretAccessKey, credentials?.sessionToken, credentials?.accessKeyId]) {
    if (secret !== undefined && secret.length >= 4) out = out.split(secret).join('***');
  }
  return out.slice(0, 1_000);
}
