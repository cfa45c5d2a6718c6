import { withoutCredentials } from '@nimbus/api/credential-headers';
import {
  CALL_STATUSES,
  type CallPatch,
  type CallRecord,
  type CallResult,
  type CallStatus,
  type CallStoreLimits,
  type CallTimings,
  type NewCallRecord,
} from './call-store.js';
import { InvalidStoreInputError } from './errors.js';
import { checkFunctionName, checkId } from './keys.js';
import { encodeBody } from './stored-body.js';

/**
 * A call record as flat fields, each value JSON text: the shape both call-store adapters keep.
 * A transition is then a plain field overwrite (timings are three fields, so they merge), and
 * Redis's Lua never has to parse JSON.
 */
export type CallFields = Record<string, string>;

/** Errors can carry a whole response or stack; records are read often and stay small. */
export const MAX_LAST_ERROR_CHARS = 8 * 1024;
const TIMING_FIELDS = ['waitMs', 'initMs', 'durationMs'] as const;

export function encodeStatus(status: CallStatus): string {
  return JSON.stringify(status);
}

export function checkStatuses(statuses: readonly unknown[]): CallStatus[] {
  if (!Array.isArray(statuses) || statuses.length === 0)
    throw new InvalidStoreInputError('a transition needs at least one status it may start from');
  return statuses.map((s) => checkStatus(s));
}

function checkStatus(status: unknown): CallStatus {
  if (!CALL_STATUSES.includes(status as CallStatus))
    throw new InvalidStoreInputError(
      `call status ${JSON.stringify(status)} is not one of ${CALL_STATUSES.join(', ')}`,
    );
  return status as CallStatus;
}

function checkWhole(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new InvalidStoreInputError(
      `call ${name} must be a whole number of at least 0, got ${String(value)}`,
    );
  return value;
}

function checkMillis(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new InvalidStoreInputError(
      `call timing ${name} must be a number of milliseconds of at least 0, got ${String(value)}`,
    );
  return value;
}

function checkHeaders(headers: unknown): Record<string, string> {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers))
    throw new InvalidStoreInputError('call result headers must be an object of strings');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string')
      throw new InvalidStoreInputError(`call result header ${name} must be a string`);
    out[name] = value;
  }
  return out;
}

function encodeResult(input: unknown, maxBodyBytes: number): CallResult {
  if (typeof input !== 'object' || input === null)
    throw new InvalidStoreInputError('a call result must be an object');
  const { statusCode, headers, body, size } = input as Record<string, unknown>;
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599)
    throw new InvalidStoreInputError(`a call result's statusCode must be 100-599, got ${String(statusCode)}`);
  if (typeof body !== 'string' && !(body instanceof Uint8Array))
    throw new InvalidStoreInputError('a call result body must be a string or bytes');
  // A size beyond the body's: the caller kept only the start of a larger answer.
  if (size !== undefined) checkWhole('result size', size);
  const encoded = encodeBody(body, maxBodyBytes, size as number | undefined);
  // A cookie the function set for its caller is theirs: the record, read by every admin, drops it.
  return { statusCode, headers: withoutCredentials(checkHeaders(headers)).kept, ...encoded };
}

/** The fields a patch writes; validated, so a bad patch fails before anything is stored. */
export function patchFields(patch: CallPatch, limits: CallStoreLimits): CallFields {
  const fields: CallFields = {};
  const put = (name: string, value: unknown) => {
    fields[name] = JSON.stringify(value);
  };
  if (patch.status !== undefined) put('status', checkStatus(patch.status));
  if (patch.attempts !== undefined) put('attempts', checkWhole('attempts', patch.attempts));
  if (patch.startedAt !== undefined) put('startedAt', checkWhole('startedAt', patch.startedAt));
  if (patch.finishedAt !== undefined) put('finishedAt', checkWhole('finishedAt', patch.finishedAt));
  for (const name of TIMING_FIELDS) {
    const value = patch.timings?.[name];
    if (value !== undefined) put(name, checkMillis(name, value));
  }
  if (patch.result !== undefined) put('result', encodeResult(patch.result, limits.maxResultBodyBytes));
  if (patch.lastError !== undefined) {
    if (typeof patch.lastError !== 'string')
      throw new InvalidStoreInputError('a call lastError must be a string');
    put('lastError', patch.lastError.slice(0, MAX_LAST_ERROR_CHARS));
  }
  if (patch.callbackError !== undefined) {
    if (typeof patch.callbackError !== 'string')
      throw new InvalidStoreInputError('a call callbackError must be a string');
    put('callbackError', patch.callbackError.slice(0, MAX_LAST_ERROR_CHARS));
  }
  if (patch.cancelTokenHash !== undefined) {
    if (typeof patch.cancelTokenHash !== 'string' || !/^[0-9a-f]{64}$/.test(patch.cancelTokenHash))
      throw new InvalidStoreInputError('a cancel token hash must be 64 lower-case hex digits (SHA-256)');
    put('cancelTokenHash', patch.cancelTokenHash);
  }
  if (patch.traceId !== undefined) {
    if (typeof patch.traceId !== 'string' || !/^[0-9a-f]{32}$/.test(patch.traceId))
      throw new InvalidStoreInputError('a trace id must be 32 lower-case hex digits (W3C trace context)');
    put('traceId', patch.traceId);
  }
  return fields;
}

export function newCallFields(record: NewCallRecord, limits: CallStoreLimits): CallFields {
  checkId('call id', record.id);
  checkFunctionName(record.namespace, record.function);
  const fields: CallFields = {
    id: JSON.stringify(record.id),
    namespace: JSON.stringify(record.namespace),
    function: JSON.stringify(record.function),
    createdAt: JSON.stringify(checkWhole('createdAt', record.createdAt)),
    status: encodeStatus('queued'),
    attempts: '0',
    ...patchFields(record, limits),
  };
  if (record.callbackUrl !== undefined)
    fields.callbackUrl = JSON.stringify(checkCallbackUrl(record.callbackUrl));
  return fields;
}

function checkCallbackUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length > 2048 || !/^https?:\/\/[^\s]+$/.test(url))
    throw new InvalidStoreInputError(
      `a callback URL must be an http(s) URL of at most 2048 characters, got ${JSON.stringify(url)}`,
    );
  return url;
}

/** The record from its stored fields; undefined when there are none (no such record). */
export function callFromFields(fields: CallFields): CallRecord | undefined {
  if (Object.keys(fields).length === 0) return undefined;
  const read = <T>(name: string): T | undefined => {
    const text = fields[name];
    return text === undefined ? undefined : (JSON.parse(text) as T);
  };
  const timings: CallTimings = {};
  for (const name of TIMING_FIELDS) {
    const value = read<number>(name);
    if (value !== undefined) timings[name] = value;
  }
  const record: CallRecord = {
    id: read<string>('id') ?? '',
    namespace: read<string>('namespace') ?? '',
    function: read<string>('function') ?? '',
    status: read<CallStatus>('status') ?? 'queued',
    attempts: read<number>('attempts') ?? 0,
    createdAt: read<number>('createdAt') ?? 0,
    timings,
  };
  const startedAt = read<number>('startedAt');
  if (startedAt !== undefined) record.startedAt = startedAt;
  const finishedAt = read<number>('finishedAt');
  if (finishedAt !== undefined) record.finishedAt = finishedAt;
  const result = read<CallResult>('result');
  if (result !== undefined) record.result = result;
  const lastError = read<string>('lastError');
  if (lastError !== undefined) record.lastError = lastError;
  const callbackUrl = read<string>('callbackUrl');
  if (callbackUrl !== undefined) record.callbackUrl = callbackUrl;
  const callbackError = read<string>('callbackError');
  if (callbackError !== undefined) record.callbackError = callbackError;
  const cancelTokenHash = read<string>('cancelTokenHash');
  if (cancelTokenHash !== undefined) record.cancelTokenHash = cancelTokenHash;
  const traceId = read<string>('traceId');
  if (traceId !== undefined) record.traceId = traceId;
  return record;
}
