import { jsonProblem } from '@nimbus/store/json-value';
import { InvalidStateValueError, StateValueTooLargeError } from './state-errors.js';

/**
 * A value as the store will take it: plain JSON (IPC and HTTP would otherwise turn a Date into a
 * string or drop undefined members before the store could refuse them), and no larger than the
 * limit. Checked in the replica before anything is sent, so a value that will be refused costs no
 * upload nor an IPC transfer (20 MiB over IPC takes most of a second); the store, where the
 * function cannot skip it, checks again.
 */
export function checkStateValue(key: string, value: unknown, maxValueBytes: number): void {
  const problem = jsonProblem(value);
  if (problem !== undefined)
    throw new InvalidStateValueError(
      `state key ${JSON.stringify(key)}: the value must be plain JSON: ${problem}`,
    );
  const size = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (size > maxValueBytes)
    throw new StateValueTooLargeError(
      `state key ${JSON.stringify(key)}: the value is ${size} bytes as JSON, over the limit of ${maxValueBytes} bytes`,
      maxValueBytes,
    );
}
