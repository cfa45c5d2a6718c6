import type { ResolvedSource } from '@nimbus/api';
import { SourceConfigError } from '../source.js';
import { codeOf, describeFailure, statusOf } from './client.js';
import { type S3Credentials, fieldOf, targetOf } from './config.js';

const REFUSED_KEYS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden']);
const WRONG_REGION = new Set([
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
]);

/**
 * A failed request as the error the trigger's status shows: what the configuration must fix (a
 * bucket that is not there, keys the store refuses, the wrong region) as a SourceConfigError
 * naming the field; anything else (the store out of reach, a 5xx) as an Error worth a retry.
 * Never with a credential in it.
 */
export function accessError(
  source: ResolvedSource<'s3'>,
  what: string,
  err: unknown,
  credentials: S3Credentials,
): Error {
  const status = statusOf(err);
  const code = codeOf(err);
  const target = targetOf(source);
  const said = describeFailure(what, err, credentials);
  if (status === 404 || code === 'NoSuchBucket')
    return new SourceConfigError(
      fieldOf(source, 'bucket'),
      `the bucket ${target.bucket} does not exist at ${target.endpoint} (${said})`,
    );
  if (status === 401 || status === 403 || REFUSED_KEYS.has(code))
    return new SourceConfigError(
      fieldOf(source, 'credentials'),
      `${target.endpoint} refused the keys of Secret ${source.spec.credentials.secret} for bucket ${target.bucket} (${said})`,
    );
  if (status === 301 || WRONG_REGION.has(code))
    return new SourceConfigError(
      fieldOf(source, 'region'),
      `the bucket ${target.bucket} is not in region ${target.region} (${said})`,
    );
  return new Error(said);
}
