import { isCredentialHeader } from '@nimbus/api/credential-headers';
import type { Headers } from './headers.js';
import type { BusMessage, BusPublisher, PublishAck, PublishOptions } from './message-bus.js';
import { deadLetterSubject } from './topology.js';

/** Headers a dead letter carries besides the original message's own. */
export const DEAD_LETTER_HEADERS = {
  namespace: 'Nimbus-Namespace',
  function: 'Nimbus-Function',
  error: 'Nimbus-Last-Error',
  subject: 'Nimbus-Original-Subject',
  stream: 'Nimbus-Original-Stream',
  seq: 'Nimbus-Original-Seq',
  id: 'Nimbus-Original-Id',
  deliveryCount: 'Nimbus-Delivery-Count',
} as const;

const MAX_ERROR_LENGTH = 1_000;

export interface DeadLetterTarget {
  readonly namespace: string;
  readonly function: string;
}

export type DeadLetteredMessage = Pick<
  BusMessage,
  'id' | 'subject' | 'stream' | 'streamSeq' | 'data' | 'headers' | 'deliveryCount'
>;

export interface DeadLetter {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly options: PublishOptions;
}

/**
 * The dead letter for `message`: its data and headers (credentials left out), plus where it came
 * from and the last error.
 * Its id is fixed by function and stream position, so publishing it again after a crash stores it once.
 */
export function deadLetterFor(
  message: DeadLetteredMessage,
  target: DeadLetterTarget,
  lastError: string,
): DeadLetter {
  // Not NATS's or Nimbus's own (an async call's request travels in one, kept by the call store),
  // and no credentials a publisher put on an event: NIMBUS_DLQ keeps what it holds for days.
  const original = Object.fromEntries(
    Object.entries(message.headers).filter(
      ([name]) => !/^(nats|nimbus)-/i.test(name) && !isCredentialHeader(name),
    ),
  );
  const headers: Record<string, string> = {
    ...original,
    [DEAD_LETTER_HEADERS.namespace]: target.namespace,
    [DEAD_LETTER_HEADERS.function]: target.function,
    [DEAD_LETTER_HEADERS.error]: lastError.replace(/[\r\n]+/g, ' ').slice(0, MAX_ERROR_LENGTH),
    [DEAD_LETTER_HEADERS.subject]: message.subject,
    [DEAD_LETTER_HEADERS.stream]: message.stream,
    [DEAD_LETTER_HEADERS.seq]: String(message.streamSeq),
    [DEAD_LETTER_HEADERS.id]: message.id,
    [DEAD_LETTER_HEADERS.deliveryCount]: String(message.deliveryCount),
  };
  return {
    subject: deadLetterSubject(target.namespace, target.function),
    data: message.data,
    options: {
      msgId: `dlq:${target.namespace}/${target.function}:${message.stream}:${message.streamSeq}`,
      headers,
    },
  };
}

/** Stores the dead letter for `message`; then `term()` it. */
export function publishDeadLetter(
  bus: BusPublisher,
  message: DeadLetteredMessage,
  target: DeadLetterTarget,
  lastError: string,
): Promise<PublishAck> {
  const letter = deadLetterFor(message, target, lastError);
  return bus.publish(letter.subject, letter.data, letter.options);
}

export interface DeadLetterRecord extends DeadLetterTarget {
  readonly lastError: string;
  readonly originalSubject: string;
  readonly originalStream: string;
  readonly originalSeq: number;
  readonly originalId: string;
  readonly deliveryCount: number;
  /** The original message's own headers. */
  readonly headers: Headers;
}

/** Reads a dead letter's headers back; undefined when they are not a dead letter's. */
export function readDeadLetter(headers: Headers): DeadLetterRecord | undefined {
  const h = DEAD_LETTER_HEADERS;
  const get = (name: string) => headers[name];
  const [namespace, fn, lastError, subject, stream, seq, id, count] = [
    get(h.namespace),
    get(h.function),
    get(h.error),
    get(h.subject),
    get(h.stream),
    get(h.seq),
    get(h.id),
    get(h.deliveryCount),
  ];
  if (
    namespace === undefined ||
    fn === undefined ||
    lastError === undefined ||
    subject === undefined ||
    stream === undefined ||
    id === undefined ||
    !/^\d+$/.test(seq ?? '') ||
    !/^\d+$/.test(count ?? '')
  )
    return undefined;
  return {
    namespace,
    function: fn,
    lastError,
    originalSubject: subject,
    originalStream: stream,
    originalSeq: Number(seq),
    originalId: id,
    deliveryCount: Number(count),
    headers: Object.fromEntries(Object.entries(headers).filter(([name]) => !/^(nats|nimbus)-/i.test(name))),
  };
}
