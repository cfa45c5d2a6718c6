import { randomUUID } from 'node:crypto';
import {
  BusConfigError,
  BusUnavailableError,
  type MessageBus,
  checkSubject,
  isReservedSubject,
} from '@nimbus/bus';
import { type SealedAttributes, sealedHeaders } from './event-seal.js';
import type { EventsConfig } from './events-config.js';

/** A function, as the gateway knows it after checking its token (never as a body names it). */
export interface Publisher {
  readonly namespace: string;
  readonly name: string;
}

export interface OutgoingEvent {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly contentType: string;
  /** ce-type; the subject when not given. */
  readonly type?: string;
  /** The event's id; a fresh one when not given (a destination derives its own, for deduplication). */
  readonly id?: string;
  /** The event that caused this one (ce-causationid). */
  readonly causationId?: string;
  /** Destinations travelled so far (ce-nimbushops). */
  readonly hops?: number;
}

/** Why an event was not published; `status` is what the events endpoint answers. */
export class PublishRefusedError extends Error {
  override readonly name = 'PublishRefusedError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a publish became: stored in the events stream, or taken by no stream (no trigger listens). */
export interface Published {
  readonly id: string;
  readonly delivered: boolean;
}

/** The CloudEvent source of everything a function publishes. */
export function functionSource(publisher: Publisher): string {
  return `nimbus://${publisher.namespace}/${publisher.name}`;
}

/**
 * Events from functions, into NIMBUS_EVENTS, the stream every NATS trigger reads: so each
 * function with a trigger on a matching subject gets the event (fan-out). The gateway, not the
 * function, says who published (ce-source) and seals it (event-seal.ts). Subjects Nimbus or
 * NATS keep (nimbus.>, $JS.>, _INBOX.> ...) and patterns are refused before anything is sent, so
 * a function cannot queue a call, write a dead letter or steer JetStream. An event no stream takes
 * (no trigger on its subject) is answered `delivered: false`: nobody listens, which is not the
 * function's error.
 */
export class FunctionEvents {
  constructor(
    private readonly config: EventsConfig,
    /** The bus to publish on (events-bus.ts); undefined or a rejection: not now (503). */
    private readonly bus: () => Promise<MessageBus | undefined> | MessageBus | undefined,
  ) {}

  /** Throws PublishRefusedError (bad subject, too large, NATS unavailable); never a bus error. */
  async publish(from: Publisher, event: OutgoingEvent): Promise<Published> {
    checkPublishSubject(event.subject);
    if (event.data.byteLength > this.config.maxDataBytes)
      throw new PublishRefusedError(
        413,
        'EventTooLarge',
        `the event data is ${event.data.byteLength} bytes, the limit is ${this.config.maxDataBytes} bytes`,
      );
    const id = event.id ?? randomUUID();
    const attributes: SealedAttributes = {
      'ce-source': functionSource(from),
      'ce-type': event.type ?? event.subject,
      ...(event.causationId === undefined ? {} : { 'ce-causationid': event.causationId }),
      ...(event.hops === undefined ? {} : { 'ce-nimbushops': String(event.hops) }),
    };
    let bus: MessageBus | undefined;
    try {
      bus = await this.bus();
    } catch (err) {
      throw new PublishRefusedError(503, 'EventsUnavailable', `cannot reach NATS: ${(err as Error).message}`);
    }
    if (bus === undefined)
      throw new PublishRefusedError(503, 'EventsUnavailable', 'the gateway is not connected to NATS yet');
    try {
      await bus.publish(event.subject, event.data, {
        msgId: id,
        headers: {
          'content-type': event.contentType,
          'ce-specversion': '1.0',
          ...sealedHeaders(this.config.sealKey, event.subject, id, attributes),
        },
      });
      return { id, delivered: true };
    } catch (err) {
      if (err instanceof BusUnavailableError && err.reason === 'no-stream') return { id, delivered: false };
      if (err instanceof BusConfigError) throw new PublishRefusedError(400, 'InvalidEvent', err.message);
      throw new PublishRefusedError(
        503,
        'EventsUnavailable',
        `the event was not stored: ${(err as Error).message}`,
      );
    }
  }
}

/** A literal subject a function may publish on; throws a PublishRefusedError naming it otherwise. */
export function checkPublishSubject(subject: unknown): asserts subject is string {
  if (typeof subject !== 'string' || subject === '' || subject.length > 255)
    throw new PublishRefusedError(400, 'InvalidSubject', 'subject must be a string of 1 to 255 characters');
  // Reserved first, patterns included (nimbus.>, $JS.API.>): an attempt on Nimbus's own is a 403.
  if (isReservedSubject(subject) || subject.startsWith('$'))
    throw new PublishRefusedError(
      403,
      'ReservedSubject',
      `subject "${subject}" is reserved: Nimbus and NATS keep nimbus.>, $JS.>, $SYS.>, $KV.>, $O.> and _INBOX.>`,
    );
  try {
    checkSubject(subject, 'subject', false);
  } catch (err) {
    throw new PublishRefusedError(400, 'InvalidSubject', (err as Error).message);
  }
  if (!/^[!-~]+$/.test(subject))
    throw new PublishRefusedError(400, 'InvalidSubject', `subject "${subject}" must be printable ASCII`);
}
