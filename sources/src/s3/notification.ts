import type { ObjectEventKind } from '@nimbus/api';
import { PushRefusedError } from '../source.js';
import { type ObjectChange, bareEtag } from './object-event.js';

/** Records one notification may carry; S3 sends one, a batch of a few at most. */
export const MAX_RECORDS = 1_000;
/** S3 keys are at most 1,024 bytes; bucket names 63 characters. */
const MAX_KEY_BYTES = 1_024;
const MAX_BUCKET_CHARS = 63;

/**
 * The object changes in an S3 event notification body (`{ "Records": [...] }`), in order. A test
 * event (`"Event": "s3:TestEvent"`, sent when notifications are configured) has none, nor do
 * records of other events (tagging, ACLs, restores). A body that is not a notification is refused
 * 400 naming what is wrong; nothing in it is trusted: sizes, keys and names are checked.
 */
export function parseNotification(body: Buffer, now: number): ObjectChange[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw refused(`the body is not JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) throw refused('the body is not a JSON object');
  if (parsed.Event === 's3:TestEvent' && parsed.Records === undefined) return [];
  const records = parsed.Records;
  if (!Array.isArray(records)) throw refused('the body has no Records array');
  if (records.length > MAX_RECORDS)
    throw refused(`the body has ${records.length} records, more than the ${MAX_RECORDS} allowed`);
  const changes: ObjectChange[] = [];
  records.forEach((record: unknown, i) => {
    const change = parseRecord(record, `Records[${i}]`, now);
    if (change !== undefined) changes.push(change);
  });
  return changes;
}

function parseRecord(record: unknown, at: string, now: number): ObjectChange | undefined {
  if (!isObject(record)) throw refused(`${at} is not an object`);
  const rawName = text(record.eventName, `${at}.eventName`, 256);
  const eventName = rawName.replace(/^s3:/, '');
  const kind = kindOf(eventName);
  if (kind === undefined) return undefined;
  const s3 = child(record, 's3', at);
  const bucket = text(child(s3, 'bucket', `${at}.s3`).name, `${at}.s3.bucket.name`, MAX_BUCKET_CHARS);
  const object = child(s3, 'object', `${at}.s3`);
  const encoded = text(object.key, `${at}.s3.object.key`, 3 * MAX_KEY_BYTES);
  const key = decodeKey(encoded, s3.configurationId);
  if (key === '' || Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw refused(`${at}.s3.object.key is not a key of 1 to ${MAX_KEY_BYTES} bytes`);
  const size = object.size ?? 0;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw refused(`${at}.s3.object.size is not a whole number of bytes`);
  const etag =
    object.eTag === undefined || object.eTag === null
      ? undefined
      : text(object.eTag, `${at}.s3.object.eTag`, 256);
  const sequencer =
    object.sequencer === undefined ? '' : text(object.sequencer, `${at}.s3.object.sequencer`, 256);
  const timeText = record.eventTime === undefined ? '' : text(record.eventTime, `${at}.eventTime`, 64);
  const parsedTime = Date.parse(timeText);
  return {
    kind,
    bucket,
    key,
    size,
    ...(bareEtag(etag) === undefined ? {} : { etag: bareEtag(etag) }),
    eventName,
    eventTime: Number.isFinite(parsedTime) ? parsedTime : now,
    identity: [eventName, sequencer, timeText, etag ?? ''],
  };
}

function kindOf(eventName: string): ObjectEventKind | undefined {
  if (eventName.startsWith('ObjectCreated:')) return 'created';
  if (eventName.startsWith('ObjectRemoved:')) return 'deleted';
  return undefined;
}

/**
 * The key as it is. S3 sends keys URL-encoded as a form value (`a+b%2Bc` for `a b+c`); versitygw
 * (v1.8.0) sends them as they are, in records whose configurationId is `webhook-global` (its one
 * global webhook). A key that does not decode is taken as it came.
 */
export function decodeKey(key: string, configurationId: unknown): string {
  if (configurationId === 'webhook-global') return key;
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}

function child(parent: Record<string, unknown>, name: string, at: string): Record<string, unknown> {
  const value = parent[name];
  if (!isObject(value)) throw refused(`${at}.${name} is not an object`);
  return value;
}

function text(value: unknown, at: string, max: number): string {
  if (typeof value !== 'string') throw refused(`${at} is not a string`);
  if (value.length > max) throw refused(`${at} is longer than ${max} characters`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refused(message: string): PushRefusedError {
  return new PushRefusedError(400, `not an S3 event notification: ${message}`);
}
