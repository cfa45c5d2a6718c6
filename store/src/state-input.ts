import { randomBytes } from 'node:crypto';
import { InvalidStateKeyError, InvalidStateValueError, StateValueTooLargeError } from './errors.js';
import { jsonProblem } from './json-value.js';

export const MAX_KEY_BYTES = 512;
// C0 controls, DEL and C1 controls: they make keys unreadable in logs and tools.
const CONTROL = /\p{Cc}/u;

/** The rules both state adapters apply before anything is stored, so they refuse the same inputs. */
export function checkStateKey(key: unknown): string {
  if (typeof key !== 'string') throw new InvalidStateKeyError(String(key), 'a key must be a string');
  if (key === '') throw new InvalidStateKeyError(key, 'a key must not be empty');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES)
    throw new InvalidStateKeyError(
      key,
      `a key is at most ${MAX_KEY_BYTES} bytes (UTF-8), this one is ${bytes}`,
    );
  if (CONTROL.test(key)) throw new InvalidStateKeyError(key, 'a key must not contain control characters');
  return key;
}

/** The value as the JSON text that is stored, refused when it is not plain JSON or too large. */
export function encodeStateValue(key: string, value: unknown, maxValueBytes: number): string {
  const problem = jsonProblem(value);
  if (problem !== undefined)
    throw new InvalidStateValueError(key, `the value must be plain JSON: ${problem}`);
  const text = JSON.stringify(value);
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxValueBytes) throw new StateValueTooLargeError(key, size, maxValueBytes);
  return text;
}

/** undefined: no expiry. */
export function checkTtl(key: string, ttlMs: unknown): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0)
    throw new InvalidStateValueError(
      key,
      `ttlMs must be a positive whole number of milliseconds, got ${String(ttlMs)}`,
    );
  return ttlMs;
}

export function checkIncrement(key: string, by: unknown): number {
  if (typeof by !== 'number' || !Number.isSafeInteger(by))
    throw new InvalidStateValueError(key, `incr needs a safe integer amount, got ${String(by)}`);
  return by;
}

export function checkExpectedVersion(key: string, expected: unknown): string | null {
  if (expected === null) return null;
  if (typeof expected !== 'string' || expected === '')
    throw new InvalidStateValueError(
      key,
      'compareAndSet needs a version string from get/set, or null for "only if absent"',
    );
  return expected;
}

/**
 * A fresh version: random, so a key that is deleted and written again never repeats an old
 * version (a counter would, and a stale compareAndSet would then succeed).
 */
export function newVersion(): string {
  return randomBytes(12).toString('base64url');
}

/** The integer incr may start from, or undefined when the stored JSON is not a safe integer. */
export function storedInteger(json: string): number | undefined {
  if (!/^-?\d{1,16}$/.test(json)) return undefined;
  const n = Number(json);
  return Number.isSafeInteger(n) ? n : undefined;
}
