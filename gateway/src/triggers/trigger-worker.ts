import type { FunctionResource, Logger, ResolvedSource } from '@nimbus/api';
import { type Clock, sourceTriggersOf, systemClock } from '@nimbus/api';
import {
  type BusMessage,
  EVENTS_STREAM,
  type MessageBus,
  ORDERED_WINDOW,
  SOURCES_STREAM,
  type Subscription,
  deliversInOrder,
  publishDeadLetter,
  resolveConsumerConfig,
  sourceConsumerConfig,
  sourceConsumerName,
  sourceConsumers,
  sourcesStreamConfig,
  storesInStream,
  triggerConsumerName,
} from '@nimbus/bus';
import { eventsStream, natsTriggers, triggerConsumers } from '@nimbus/bus';
import type { DeadLetterStore } from '@nimbus/store';
import type { Tracing } from '@nimbus/telemetry';
import { DEAD_LETTER_PSEUDO, describeFailure } from '../async/call-outcome.js';
import { type DeliveryEnd, DeliverySpan } from '../async/delivery-span.js';
import type { Destinations } from '../destinations/destinations.js';
import { type EventEnd, eventEnding } from '../destinations/endings.js';
import { openSeal } from '../events/event-seal.js';
import type { BufferedRequest, CallOutcome, Invoker } from '../invoke/invoker.js';
import type { FunctionDirectory } from '../ports.js';
import type { RouteTable } from '../routing/route-table.js';
import { sourceEventRequest } from '../sources/source-message.js';
import { type OrderLeases, OrderedTrigger } from './ordered-trigger.js';

export interface TriggerWorkerDeps {
  readonly directory: FunctionDirectory;
  readonly routes: RouteTable;
  readonly invoker: Pick<Invoker, 'call'>;
  /** The gateway's bus connection, once there is one (undefined: closed first). */
  readonly bus: () => Promise<MessageBus | undefined>;
  readonly deadLetters: DeadLetterStore;
  /**
   * True in local mode, where no controller runs: the worker makes the events stream and the
   * trigger durables itself. In a cluster the controller does, and the gateways only consume.
   */
  readonly manageTopology: boolean;
  /** Events of one trigger running at once in this gateway. */
  readonly concurrency: number;
  /** How often the Functions are looked at for triggers that came or went. */
  readonly syncMs: number;
  readonly log: Logger;
  readonly now: () => number;
  /** A span for each delivery, under the event's `traceparent`; absent, or without a tracer, none. */
  readonly tracing?: Tracing;
  /** Where an event's outcome goes (spec.destinations), and the key that vouches for attributes set by a gateway. */
  readonly destinations?: { readonly sender: Pick<Destinations, 'ended'>; readonly sealKey: string };
  /** Ordered triggers are delivered by one gateway at a time: the holder of the trigger's lease. */
  readonly leases: OrderLeases;
  /** This gateway, as a lease holder. */
  readonly owner: string;
  /** Timers of the ordered triggers' leases and backoffs; the system clock when absent. */
  readonly clock?: Clock;
}

/** A message's content type when its publisher gave none: JSON if it parses, bytes otherwise. */
function contentTypeOf(message: BusMessage): string {
  const given = message.headers['Content-Type'] ?? message.headers['content-type'];
  if (given !== undefined) return given;
  try {
    JSON.parse(Buffer.from(message.data).toString('utf8'));
    return 'application/json';
  } catch {
    return 'application/octet-stream';
  }
}

/**
 * The request a NATS message becomes: a POST carrying a CloudEvent in binary mode (`ce-id` the
 * message's id, `ce-type` its subject, `ce-source` the stream), the data as the body. Pure.
 */
export function eventRequest(message: BusMessage, sealKey?: string): BufferedRequest {
  const headers: Record<string, string> = {
    'content-type': contentTypeOf(message),
    'ce-specversion': '1.0',
    'ce-id': message.id,
    'ce-type': message.subject,
    'ce-source': message.stream,
    'ce-time': new Date(message.timestamp).toISOString(),
    'x-call-id': message.id,
    ...(sealKey === undefined ? {} : openSeal(sealKey, message)),
  };
  const traceparent = message.headers.traceparent;
  if (traceparent !== undefined) headers.traceparent = traceparent;
  return { method: 'POST', path: '/', headers, body: Buffer.from(message.data) };
}

/** How soon an event for a function this gateway does not know comes back. */
const UNKNOWN_FUNCTION_RETRY_MS = 1_000;

/** How long an ordered trigger's lease lasts unless renewed (each sync pass renews it). */
const ORDER_LEASE_MS = 15_000;

interface Running {
  /** What it was started for: a change (say, of concurrency or attempts) starts it again. */
  readonly fingerprint: string;
  stop(): Promise<void>;
  /** A sync pass: an ordered trigger claims or renews its lease. */
  pass?(): Promise<void>;
}

/** One durable this gateway delivers from: a NATS trigger's on NIMBUS_EVENTS, or a source's on NIMBUS_SOURCES. */
interface Wanted {
  readonly stream: string;
  readonly consumer: string;
  readonly fn: FunctionResource;
  /** A source trigger delivered in order, one event after another over every gateway. */
  readonly ordered?: ResolvedSource;
}

/**
 * Runs the Functions' NATS triggers in this gateway: one subscription per function and subject on
 * the trigger's durable (shared by every gateway replica, so each event runs once), each event an
 * invocation through the gateway's own routing, so a function at zero is woken by it. A 2xx acks
 * the event; anything else naks it with the trigger's backoff, and after `maxDeliver` attempts it
 * goes to the dead letters (the NIMBUS_DLQ stream, and a record `/system/dead-letters` lists and
 * can redrive as an async call) with its last error.
 */
export class TriggerWorker {
  private readonly running = new Map<string, Running>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: TriggerWorkerDeps) {}

  start(): void {
    const loop = () => {
      this.syncing = this.sync()
        .catch((err: unknown) => this.deps.log.warn('could not set up NATS triggers; trying again', { err }))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.deps.syncMs).unref();
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.syncing;
    await Promise.all([...this.running.values()].map((r) => r.stop()));
    this.running.clear();
  }

  /** Subscribes to the durables of triggers that came, stops those of triggers that went. */
  async sync(): Promise<void> {
    const functions = this.deps.directory.list();
    const wanted = new Map<string, Wanted>();
    const want = (stream: string, consumer: string, fn: FunctionResource, ordered?: ResolvedSource) =>
      wanted.set(`${stream}/${consumer}`, { stream, consumer, fn, ordered });
    let sources = false;
    for (const fn of functions) {
      for (const t of natsTriggers(fn).triggers)
        want(EVENTS_STREAM, triggerConsumerName(fn.metadata.namespace, fn.metadata.name, t.subject), fn);
      for (const source of sourceTriggersOf(fn).filter(storesInStream)) {
        want(SOURCES_STREAM, sourceConsumerName(source), fn, deliversInOrder(source) ? source : undefined);
        sources = true;
      }
    }
    if (wanted.size === 0 && this.running.size === 0) return;
    const bus = await this.deps.bus();
    if (bus === undefined || this.stopped) return;
    if (this.deps.manageTopology) {
      const stream = eventsStream(functions);
      if (stream !== undefined) await bus.ensureStream(stream);
      if (sources) await bus.ensureStream(sourcesStreamConfig());
      for (const fn of functions)
        for (const consumer of [...triggerConsumers(fn), ...(sources ? sourceConsumers(fn) : [])])
          await bus.ensureConsumer(consumer);
    }
    for (const [key, want] of wanted) {
      const fingerprint = JSON.stringify(want.ordered ?? 'unordered');
      const running = this.running.get(key);
      if (running?.fingerprint === fingerprint) continue;
      if (running !== undefined) await running.stop();
      this.running.set(key, this.run(bus, want, fingerprint));
    }
    for (const [key, running] of this.running) {
      if (wanted.has(key)) {
        await running.pass?.();
        continue;
      }
      this.running.delete(key);
      await running.stop();
      const [stream = EVENTS_STREAM, name = key] = key.split('/');
      if (this.deps.manageTopology) await bus.deleteConsumer(stream, name);
    }
  }

  /** Starts delivering from one durable: every gateway sharing it, or, in order, the lease holder alone. */
  private run(bus: MessageBus, want: Wanted, fingerprint: string): Running {
    const { stream, consumer: name, fn, ordered } = want;
    const { namespace, name: fnName } = fn.metadata;
    const handler = (message: BusMessage) => this.handle(namespace, fnName, name, message);
    if (ordered === undefined) {
      const subscription: Subscription = bus.consume(stream, name, handler, {
        concurrency: this.deps.concurrency,
        onError: (err) =>
          this.deps.log.warn('a trigger subscription failed; it goes on', { consumer: name, err }),
      });
      return { fingerprint, stop: () => subscription.stop() };
    }
    const config = resolveConsumerConfig(sourceConsumerConfig(ordered));
    const trigger = new OrderedTrigger({
      stream,
      consumer: name,
      policy: { maxDeliver: ordered.maxDeliver, backoffMs: ordered.backoffMs },
      ackDeadlineMs: Math.max(config.ackWaitMs, ...config.backoffMs),
      window: ORDERED_WINDOW,
      bus: this.deps.bus,
      leases: this.deps.leases,
      owner: this.deps.owner,
      leaseMs: ORDER_LEASE_MS,
      clock: this.deps.clock ?? systemClock,
      attempt: handler,
      log: this.deps.log,
    });
    return { fingerprint, stop: () => trigger.stop(), pass: () => trigger.pass() };
  }

  /** The request a stored message becomes, by the stream it waits in. */
  private requestOf(message: BusMessage): BufferedRequest {
    return message.stream === SOURCES_STREAM
      ? sourceEventRequest(message)
      : eventRequest(message, this.deps.destinations?.sealKey);
  }

  private async handle(namespace: string, name: string, trigger: string, message: BusMessage): Promise<void> {
    const span = DeliverySpan.event(this.deps.tracing, message, namespace, name, trigger);
    const delivered = this.deliver(namespace, name, message, span);
    await (span === undefined ? delivered : span.endWhen(delivered));
  }

  /** Runs one delivery and settles it; says how, for its span. */
  private async deliver(
    namespace: string,
    name: string,
    message: BusMessage,
    span?: DeliverySpan,
  ): Promise<DeliveryEnd> {
    const route = this.deps.routes.get(namespace, name);
    let lastError: string;
    let outcome: CallOutcome | undefined;
    if (route === undefined) {
      // Not known here (yet, or any more): a failed attempt like any other, but never at once.
      lastError = `attempt ${message.deliveryCount}: the function ${namespace}/${name} is not known to this gateway`;
      if (!message.lastAttempt) {
        message.nak(UNKNOWN_FUNCTION_RETRY_MS);
        return { outcome, error: lastError, retried: true };
      }
    } else {
      const request = this.requestOf(message);
      outcome = await this.deps.invoker.call(route, span?.request(request) ?? request);
      if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) {
        await this.ended(namespace, name, message, { outcome });
        await message.ack();
        return { outcome, error: undefined, retried: false };
      }
      lastError = describeFailure(outcome, message.deliveryCount);
      if (!message.lastAttempt) {
        message.nak();
        return { outcome, error: lastError, retried: true };
      }
    }
    try {
      await this.deadLetter(namespace, name, message, lastError);
    } catch (err) {
      // JetStream delivers it no more after maxDeliver: say everything about it here.
      this.deps.log.error('a trigger event ran out of attempts and could not be dead-lettered', {
        function: `${namespace}/${name}`,
        event: message.id,
        lastError,
        err,
      });
    }
    await this.ended(namespace, name, message, { outcome, error: lastError });
    message.term();
    return { outcome, error: lastError, retried: false };
  }

  /** The event's outcome to the function's destination, before the ack: a redelivery sends the same id. */
  private async ended(namespace: string, name: string, message: BusMessage, end: EventEnd): Promise<void> {
    const d = this.deps.destinations;
    if (d !== undefined) await d.sender.ended(eventEnding(namespace, name, message, end, d.sealKey));
  }

  private async deadLetter(
    namespace: string,
    name: string,
    message: BusMessage,
    lastError: string,
  ): Promise<void> {
    const request = this.requestOf(message);
    const bus = await this.deps.bus();
    const target = { namespace, function: name };
    const { evicted } = await this.deps.deadLetters.add({
      id: `event:${message.stream}:${message.streamSeq}:${name}`,
      namespace,
      function: name,
      reason: 'max-deliver',
      lastError,
      attempts: message.deliveryCount,
      request: {
        headers: { ...request.headers, [DEAD_LETTER_PSEUDO.method]: 'POST', [DEAD_LETTER_PSEUDO.path]: '/' },
        body: request.body,
      },
      failedAt: this.deps.now(),
    });
    if (evicted.length > 0)
      this.deps.log.warn('dropped the oldest dead letters of a function at its bound', {
        function: `${namespace}/${name}`,
        dropped: evicted,
      });
    if (bus !== undefined) await publishDeadLetter(bus, message, target, lastError);
    this.deps.log.warn('a trigger event was dead-lettered', { function: `${namespace}/${name}`, lastError });
  }
}
