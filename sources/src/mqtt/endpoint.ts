import { createHash } from 'node:crypto';
import type { ResolvedSource } from '@nimbus/api';
import { type SecretReader, SourceConfigError } from '../source.js';

/** Where a trigger's broker is, read from its connection Secret; the login kept apart from the URL. */
export interface MqttEndpoint {
  /** The broker URL for the client, with no login in it. */
  readonly url: string;
  /** `mqtt://host:port` (and a ws path): the events' CloudEvent `source`, safe to show anywhere. */
  readonly source: string;
  readonly username?: string;
  readonly password?: string;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };

/** `spec.triggers[name].mqtt.<field>`: how errors and health name a field of the trigger. */
export function fieldOf(source: ResolvedSource<'mqtt'>, field: 'connection' | 'topics'): string {
  return `spec.triggers[${source.name}].mqtt.${field}`;
}

/** Reads the connection Secret and parses it; a missing Secret or a bad URL is a SourceConfigError. */
export async function readEndpoint(
  source: ResolvedSource<'mqtt'>,
  secrets: SecretReader,
): Promise<MqttEndpoint> {
  return parseEndpoint(await secrets.read(source.spec.connection), fieldOf(source, 'connection'));
}

/**
 * Parses an `mqtt://`, `mqtts://`, `ws://` or `wss://` URL. The error never repeats the URL: it may
 * hold a password.
 */
export function parseEndpoint(raw: string, field: string): MqttEndpoint {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new SourceConfigError(
      field,
      `${field}: not a URL (want mqtt://host:port, mqtts://, ws:// or wss://)`,
    );
  }
  const scheme = url.protocol.replace(/:$/, '');
  const defaultPort = DEFAULT_PORTS[scheme];
  if (defaultPort === undefined)
    throw new SourceConfigError(field, `${field}: scheme ${scheme}: is not mqtt:, mqtts:, ws: or wss:`);
  if (url.hostname === '') throw new SourceConfigError(field, `${field}: the URL names no host`);
  const port = url.port === '' ? defaultPort : Number(url.port);
  const path = scheme.startsWith('ws') && url.pathname !== '/' ? url.pathname : '';
  const where = `${scheme}://${url.hostname}:${port}${path}`;
  return {
    url: `${where}${scheme.startsWith('ws') ? url.search : ''}`,
    source: where,
    ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
    ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
  };
}

/**
 * The trigger's MQTT client id: the same on every gateway and every restart (the broker keeps the
 * session under it), different for every trigger. `nimbus` and 17 hex digits: 23 characters of
 * [0-9a-z], the id every broker must accept (MQTT 5, 3.1.3.1-5).
 */
export function clientIdOf(source: ResolvedSource<'mqtt'>, purpose: 'session' | 'probe' = 'session'): string {
  const key = `${purpose === 'probe' ? 'probe:' : ''}${source.namespace}/${source.function}/${source.name}`;
  return `nimbus${createHash('sha256').update(key).digest('hex').slice(0, 17)}`;
}

/** An error in words, with the endpoint's password taken out wherever it shows. */
export function scrubbed(err: unknown, endpoint: MqttEndpoint | undefined): string {
  const text = err instanceof Error ? err.message : String(err);
  const secret = endpoint?.password;
  return secret === undefined || secret === '' ? text : text.split(secret).join('***');
}

/** An error of the broker's for health and logs: scrubbed, and prefixed with where it happened. */
export function describeError(err: unknown, endpoint: MqttEndpoint | undefined): string {
  const text = scrubbed(err, endpoint);
  if (endpoint === undefined || text.startsWith(`${endpoint.source}: `)) return text;
  return `${endpoint.source}: ${text}`;
}
