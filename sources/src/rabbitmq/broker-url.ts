import type { ResolvedSource } from '@nimbus/api';
import type { Options } from 'amqplib';
import { type SecretReader, SourceConfigError } from '../source.js';

/**
 * A trigger's broker, read from its connection Secret: what amqplib needs to log in, and what may
 * be shown of it. The URL holds the password, so it never leaves this object whole: events, health,
 * errors and logs use `display`, and every text that could echo it goes through `redact`.
 */
export interface BrokerAddress {
  /** For amqplib's connect: never logged. */
  readonly connect: Options.Connect;
  /** `amqp://host:port/vhost`, no credentials: the CloudEvent source before its `#queue`. */
  readonly display: string;
  readonly vhost: string;
  /** The text with the URL's user:password and the password itself taken out. */
  redact(text: string): string;
}

/** `spec.triggers[name].rabbitmq.<path>`: how config errors and health name a field. */
export function fieldOf(source: Pick<ResolvedSource, 'name'>, path: string): string {
  return `spec.triggers[${source.name}].rabbitmq.${path}`;
}

/** Reads and checks the trigger's connection URL; a SourceConfigError naming the field if it is no AMQP URL. */
export async function readBrokerAddress(
  source: ResolvedSource<'rabbitmq'>,
  secrets: SecretReader,
): Promise<BrokerAddress> {
  const field = fieldOf(source, 'connection');
  return parseBrokerUrl((await secrets.read(source.spec.connection)).trim(), field);
}

export function parseBrokerUrl(raw: string, field: string): BrokerAddress {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // The text may be the password itself pasted in the wrong key: never quote it.
    throw new SourceConfigError(field, 'is not a URL; expected amqp://user:password@host:5672/vhost');
  }
  const protocol = url.protocol.slice(0, -1);
  if (protocol !== 'amqp' && protocol !== 'amqps')
    throw new SourceConfigError(field, `has the scheme ${protocol}:, expected amqp: or amqps:`);
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  if (hostname === '') throw new SourceConfigError(field, 'names no host');
  const port = url.port === '' ? (protocol === 'amqp' ? 5672 : 5671) : Number(url.port);
  const username = decode(url.username);
  const password = decode(url.password);
  const path = url.pathname.replace(/^\//, '');
  // amqp://host and amqp://host/ mean the default vhost "/", as in RabbitMQ's URI spec.
  const vhost = path === '' ? '/' : decode(path);
  if (vhost.includes('/') && vhost !== '/')
    throw new SourceConfigError(field, 'has a path of more than one segment; escape a / in the vhost as %2F');
  const host = hostname.includes(':') ? `[${hostname}]` : hostname;
  const display = `${protocol}://${host}:${port}/${encodeURIComponent(vhost)}`;
  const secretsIn = [password, url.password].filter((s) => s.length >= 3);
  return {
    connect: {
      protocol,
      hostname,
      port,
      // Neither given: RabbitMQ's guest, as amqplib would.
      ...(url.username === '' && url.password === '' ? {} : { username, password }),
      // amqplib unescapes the vhost it is given once more.
      vhost: encodeURIComponent(vhost),
      // A broker gone silent (a partition, a dead node) is noticed within two heartbeats.
      heartbeat: heartbeatOf(url.searchParams.get('heartbeat'), field),
    },
    display,
    vhost,
    redact(text) {
      let out = text.replace(/\b(amqps?:\/\/)[^@\s/]*@/gi, '$1');
      for (const secret of secretsIn) out = out.split(secret).join('***');
      return out;
    },
  };
}

/** `?heartbeat=` seconds, as RabbitMQ's URI spec has it; 15 unless given (0 turns heartbeats off). */
function heartbeatOf(value: string | null, field: string): number {
  if (value === null) return 15;
  if (!/^\d{1,5}$/.test(value))
    throw new SourceConfigError(field, 'has a heartbeat that is not a number of seconds');
  return Number(value);
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
