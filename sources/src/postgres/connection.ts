import type { ResolvedSource } from '@nimbus/api';
import pg from 'pg';
import { type SecretReader, SourceConfigError } from '../source.js';
import { specField } from './names.js';

/** Where a trigger's changes come from, read from its Secret. */
export interface PostgresTarget {
  /** What pg connects with: it holds the password, so it is never logged. */
  readonly config: pg.ClientConfig;
  /** `postgres://host:port/database`: the CloudEvent source, with no credentials. */
  readonly source: string;
  /** The text with the password, and any `user:password@` of a URL, taken out: for errors and health. */
  redact(text: string): string;
}

const SSL_MODES: Readonly<Record<string, pg.ClientConfig['ssl']>> = {
  disable: false,
  allow: false,
  prefer: false,
  // libpq's require encrypts without checking the certificate; verify-* check it.
  require: { rejectUnauthorized: false },
  'verify-ca': { rejectUnauthorized: true },
  'verify-full': { rejectUnauthorized: true },
};

/**
 * Reads a `postgres://user:password@host:port/database?sslmode=…` URL. Only what is understood is
 * used: a parameter such as `replication` or `options` in the URL cannot change how Nimbus connects.
 */
export function parseConnectionUrl(url: string, field: string): PostgresTarget {
  const redact = redactor(url);
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new SourceConfigError(field, 'is not a URL (postgres://user:password@host:5432/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    throw new SourceConfigError(field, `is a ${redact(parsed.protocol)} URL, not postgres://`);
  if (parsed.hostname === '') throw new SourceConfigError(field, 'names no host');
  const user = decodeURIComponent(parsed.username);
  if (user === '') throw new SourceConfigError(field, 'names no user');
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || user;
  const port = parsed.port === '' ? 5432 : Number(parsed.port);
  const sslmode = parsed.searchParams.get('sslmode') ?? 'disable';
  const ssl = SSL_MODES[sslmode];
  if (ssl === undefined)
    throw new SourceConfigError(
      field,
      `has sslmode=${redact(sslmode).slice(0, 20)}, not one PostgreSQL knows`,
    );
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    config: {
      host,
      port,
      user,
      password: decodeURIComponent(parsed.password),
      database,
      ssl,
      application_name: 'nimbus',
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    },
    source: `postgres://${parsed.hostname}:${port}/${encodeURIComponent(database)}`,
    redact,
  };
}

/** The trigger's connection, from its Secret. */
export async function readTarget(
  source: ResolvedSource<'postgres'>,
  secrets: SecretReader,
): Promise<PostgresTarget> {
  const field = specField(source, 'connection');
  const url = await secrets.read(source.spec.connection);
  return parseConnectionUrl(url, field);
}

/** Takes the URL's password out of any text, raw or percent-encoded, and `user:password@` of any URL. */
function redactor(url: string): (text: string) => string {
  const secrets = new Set<string>();
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^:/@]*:([^@/]*)@/i.exec(url.trim());
  if (match?.[1]) {
    secrets.add(match[1]);
    try {
      secrets.add(decodeURIComponent(match[1]));
    } catch {
      // not valid percent-encoding: the raw form is all there is
    }
  }
  return (text) => {
    let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1');
    for (const secret of secrets) if (secret !== '') out = out.replaceAll(secret, '***');
    return out;
  };
}

/**
 * A connected client, `replication` for a walsender (START_REPLICATION) or plain for SQL. Its
 * `error` events are kept from crashing the process: the caller learns of a lost connection from
 * the query that fails or from `onLost`.
 */
export async function connectClient(
  target: PostgresTarget,
  options: { replication: boolean; onLost?: (err: Error) => void },
): Promise<pg.Client> {
  const client = new pg.Client({
    ...target.config,
    ...(options.replication ? { replication: 'database' } : {}),
  });
  client.on('error', (err) => options.onLost?.(err));
  client.on('end', () => options.onLost?.(new Error('the connection to PostgreSQL closed')));
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return client;
}

/** An error in words for health and SourceConfigError messages, without credentials. */
export function describeError(target: Pick<PostgresTarget, 'redact'>, err: unknown): string {
  const message = err instanceof Error ? err.message || err.name : String(err);
  const code = (err as { code?: unknown }).code;
  return target.redact(typeof code === 'string' && code !== '' ? `${message} (${code})` : message);
}
