import { createHash } from 'node:crypto';
import {
  type CallRecord,
  type CallStore,
  type DeadLetter,
  type DeadLetterPage,
  type DeadLetterQuery,
  type DeadLetterStore,
  bodyBytes,
} from '@nimbus/store';
import { isCallId } from '../http/headers.js';
import { problems } from '../http/problems.js';
import { encodeCall } from './call-message.js';
import { DEAD_LETTER_PSEUDO } from './call-outcome.js';
import type { CallQueue } from './call-queue.js';

export interface CallAdminDeps {
  readonly calls: CallStore;
  readonly deadLetters: DeadLetterStore;
  readonly queue: CallQueue;
  readonly now: () => number;
}

/**
 * What `/system/calls` and `/system/dead-letters` do. Errors are Problems (404, 409) or the
 * stores' and bus's own errors, which the HTTP layer maps (503 when Redis or NATS is away).
 */
export class CallAdmin {
  constructor(private readonly deps: CallAdminDeps) {}

  async call(id: string): Promise<CallRecord> {
    const record = await this.deps.calls.get(id);
    if (record === undefined) throw problems.callNotFound(id);
    return record;
  }

  list(query: DeadLetterQuery): Promise<DeadLetterPage> {
    return this.deps.deadLetters.list(query);
  }

  async deadLetter(id: string): Promise<DeadLetter> {
    const letter = await this.deps.deadLetters.get(id);
    if (letter === undefined) throw problems.deadLetterNotFound(id);
    return letter;
  }

  async remove(id: string): Promise<void> {
    if (!(await this.deps.deadLetters.delete(id))) throw problems.deadLetterNotFound(id);
  }

  /**
   * Sends a dead-lettered call again, under the same call id, as a new series of attempts: the
   * record goes from failed back to queued with its attempts at 0 (made anew if it expired), and
   * the request is published under a message id of its own (`<id>:redrive:<time>`), since the
   * call id may still be in JetStream's duplicate window. The dead letter is taken atomically, so
   * of two redrives one wins and the other gets 404; if the call cannot be queued it is put back.
   * A dead letter whose body was cut at the store's limit is refused with 409: it would not be
   * the same call. So is one the store kept without its credential headers (Authorization,
   * Cookie…, which the store never keeps), unless `withoutCredentials` says to send it without
   * them: the operator's choice, since the function then sees an anonymous call.
   */
  async redrive(letterId: string, options: { withoutCredentials?: boolean } = {}): Promise<CallRecord> {
    const { calls, deadLetters, queue, now } = this.deps;
    const id = redriveCallId(letterId);
    // A cut body would run the function on part of a request: refused before anything is taken.
    const seen = await deadLetters.get(letterId);
    if (seen?.request.truncated === true)
      throw problems.deadLetterTruncated(
        letterId,
        seen.request.size ?? 0,
        bodyBytes(seen.request).byteLength,
      );
    const removed = seen?.request.removedHeaders ?? [];
    if (removed.length > 0 && options.withoutCredentials !== true)
      throw problems.deadLetterCredentialsRemoved(letterId, removed);
    const letter = await deadLetters.take(letterId);
    if (letter === undefined) throw problems.deadLetterNotFound(letterId);
    const {
      [DEAD_LETTER_PSEUDO.method]: method = 'POST',
      [DEAD_LETTER_PSEUDO.path]: path = '/',
      [DEAD_LETTER_PSEUDO.callbackUrl]: callbackUrl,
      ...headers
    } = letter.request.headers;
    const acceptedAt = now();
    const putBack = () =>
      deadLetters.add({
        ...letter,
        request: {
          headers: letter.request.headers,
          body: bodyBytes(letter.request),
          ...(letter.request.removedHeaders === undefined
            ? {}
            : { removedHeaders: letter.request.removedHeaders }),
        },
      });
    let queued: CallRecord | undefined;
    try {
      const moved = await calls.transition(id, ['failed'], {
        status: 'queued',
        attempts: 0,
        lastError: `redriven; before: ${letter.lastError}`,
      });
      if (moved.applied) queued = moved.record;
      else if (moved.record !== undefined) throw problems.deadLetterStale(letterId, moved.record.status);
      else
        queued = await calls.create({
          id,
          namespace: letter.namespace,
          function: letter.function,
          createdAt: acceptedAt,
          ...(callbackUrl === undefined ? {} : { callbackUrl }),
        });
    } catch (err) {
      await putBack();
      throw err;
    }
    const message = encodeCall(
      {
        id,
        namespace: letter.namespace,
        function: letter.function,
        method,
        path,
        headers,
        body: bodyBytes(letter.request),
        callbackUrl,
        acceptedAt,
      },
      `${id}:redrive:${acceptedAt}`,
    );
    try {
      await queue.publish(message.subject, message.data, message.options);
    } catch (err) {
      await calls
        .transition(id, ['queued'], { status: 'failed', lastError: letter.lastError })
        .catch(() => {});
      await putBack();
      throw err;
    }
    return queued as CallRecord;
  }
}

/**
 * The call a dead letter is redriven as: a dead-lettered call keeps its id; a trigger event's letter
 * (`event:…`, `source:…`, not a call id) gets one derived from it, so the redrive is an async call
 * like any other (its record under /system/calls, its own dead letter if it fails again) and a
 * second redrive of the same letter, had it been put back, is the same call. The event keeps its
 * `ce-id`, so a handler still dedupes on it.
 */
export function redriveCallId(letterId: string): string {
  if (isCallId(letterId)) return letterId;
  return `redrive-${createHash('sha256').update(letterId).digest('base64url').slice(0, 32)}`;
}
