/**
 * @nimbus/bus: durable messages for Nimbus behind one port, `MessageBus`, with two adapters that
 * pass the same contract suite: `JetStreamBus` (NATS JetStream) and `MemoryBus` (local mode).
 *
 * Streams and subjects (see topology.ts):
 * - `NIMBUS_CALLS` on `nimbus.calls.<namespace>.<function>`, work-queue retention: async calls.
 *   The gateway answers 202 only once `publish` has returned the stream's ack, with the call id as
 *   `msgId` (Nats-Msg-Id), so a retried request inside the duplicate window stores nothing new.
 *   Every gateway replica pulls from the one durable `nimbus-calls`: each call goes to one worker.
 * - `NIMBUS_EVENTS` over the union of all NATS trigger subjects (wildcards folded, `nimbus.>` and
 *   NATS's own subjects refused), interest retention: a message stays until every trigger on its
 *   subject has it. One durable per function and subject, `trigger_<namespace>_<function>_<hash>`,
 *   filtered on the subject and starting at new messages; two functions on a subject each get
 *   every message (fan-out), replicas of one function share theirs.
 * - `NIMBUS_DLQ` on `nimbus.dlq.<namespace>.<function>`: `publishDeadLetter` stores the message with
 *   the last error and its origin (subject, stream, seq, id, deliveries) in `Nimbus-*` headers.
 *
 * Delivery: a message's id is its `Nats-Msg-Id`, else `<stream>:<seq>`. While a handler runs the bus
 * reports progress, so the ack wait (with a backoff list, its first step) measures a dead worker,
 * not a slow function. `nak()` waits the consumer's backoff step; a handler that throws is nak'd; on
 * `lastAttempt` (maxDeliver reached) a failure should be dead-lettered and `term()`ed, and a nak
 * ends it likewise, since it cannot come again.
 *
 * Failure: publish and management calls fail with BusUnavailableError within `timeoutMs` (default
 * 2 s), at once while disconnected, never hang; bad names, subjects, headers and configs are
 * BusConfigError. The connection reconnects forever with capped back-off, and subscriptions resume
 * by themselves after a reconnect or a server restart (file storage keeps streams and consumers).
 * Not covered: a worker that dies during a message's last attempt leaves it undelivered (JetStream
 * keeps it pending and only sends a max-deliveries advisory).
 */
export * from './errors.js';
export * from './message-bus.js';
export * from './streams.js';
export * from './consumers.js';
export { MSG_ID_HEADER, type Headers, messageId } from './headers.js';
export { checkSubject, subjectMatches, subjectsOverlap, subjectCovers } from './subjects.js';
export { retryDelay } from './retry-delay.js';
export * from './topology.js';
export * from './trigger-topology.js';
export * from './dead-letter.js';
export { readNatsUrl, readNatsCredentials, type NatsCredentials } from './nats-url.js';
export * from './nats-permissions.js';
export { MemoryBus, type MemoryBusOptions } from './memory/memory-bus.js';
export { JetStreamBus, type JetStreamBusOptions } from './jetstream/jetstream-bus.js';
export * from './source-topology.js';
