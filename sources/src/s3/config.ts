import { type ResolvedSource, parseDuration } from '@nimbus/api';
import { type SecretReader, SourceConfigError } from '../source.js';

/** The store, the bucket and the keys to reach it, as one trigger names them. */
export interface S3Target {
  /** The endpoint without user, password, query or trailing slash: safe to show. */
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  /** CloudEvent `source` of every event: `<endpoint>/<bucket>`. */
  readonly source: string;
}

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_POLL_INTERVAL_MS = 10_000;

/** `spec.triggers[<name>].s3.<field>`: how errors and health name a field of the trigger. */
export function fieldOf(source: Pick<ResolvedSource<'s3'>, 'name'>, field: string): string {
  return `spec.triggers[${source.name}].s3.${field}`;
}

/** The target of a trigger; a bad endpoint is a SourceConfigError naming it. Pure. */
export function targetOf(source: ResolvedSource<'s3'>): S3Target {
  const { spec } = source;
  let url: URL;
  try {
    url = new URL(spec.endpoint);
  } catch {
    throw new SourceConfigError(fieldOf(source, 'endpoint'), 'the endpoint is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new SourceConfigError(
      fieldOf(source, 'endpoint'),
      'the endpoint must be an http:// or https:// URL',
    );
  // Keys come from the Secret only: whatever user or password the URL carries is dropped, never shown.
  const endpoint = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  return {
    endpoint,
    region: spec.region ?? DEFAULT_REGION,
    bucket: spec.bucket,
    source: `${endpoint}/${spec.bucket}`,
  };
}

/** The keys in the trigger's Secret: accessKeyId and secretAccessKey, and sessionToken when it has one. */
export async function credentialsOf(
  source: ResolvedSource<'s3'>,
  secrets: SecretReader,
): Promise<S3Credentials> {
  const name = source.spec.credentials.secret;
  const [accessKeyId, secretAccessKey] = await Promise.all([
    secrets.read({ name, key: 'accessKeyId' }),
    secrets.read({ name, key: 'secretAccessKey' }),
  ]);
  const sessionToken = await secrets.read({ name, key: 'sessionToken' }).catch((err: unknown) => {
    if (err instanceof SourceConfigError) return undefined; // optional: a Secret without it is fine
    throw err;
  });
  if (accessKeyId === '' || secretAccessKey === '')
    throw new SourceConfigError(
      fieldOf(source, 'credentials'),
      `the Secret ${name} has an empty accessKeyId or secretAccessKey`,
    );
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** How often a poll trigger lists its bucket (ms). */
export function pollIntervalOf(source: ResolvedSource<'s3'>): number {
  const text = source.spec.pollInterval;
  if (text === undefined) return DEFAULT_POLL_INTERVAL_MS;
  try {
    const ms = parseDuration(text);
    if (ms >= 1) return ms;
  } catch {
    // said below
  }
  throw new SourceConfigError(fieldOf(source, 'pollInterval'), `${JSON.stringify(text)} is not a duration`);
}

/** The trigger's mode, notify unless it says poll. */
export function modeOf(source: ResolvedSource<'s3'>): 'notify' | 'poll' {
  return source.spec.mode ?? 'notify';
}
