import { SOURCES_STREAM } from './source-topology.js';
import { CALLS_CONSUMER, CALLS_STREAM, DEAD_LETTER_STREAM, EVENTS_STREAM } from './topology.js';

/**
 * Who may do what on NATS: one user per Nimbus component, each allowed exactly the subjects its
 * code uses, so a client without a component's password (a function, an app publishing trigger
 * events, anyone on the network) can neither queue a call nor read the calls or dead letters.
 * The chart renders these into the bundled server's nats.conf (from charts/nimbus/files/
 * nats-permissions.json, which `scripts/render-nats-permissions.mjs` writes from here) and the test
 * harness starts nats-server with them, so the tests run on the permissions that ship.
 *
 * JetStream is driven by requests on `$JS.API.<verb>.<stream>[.<consumer>]`; its answers and pulled
 * messages come back on the requester's inbox, and acks go to `$JS.ACK.<stream>.<consumer>.…`.
 * Each component uses an inbox prefix of its own outside `_INBOX` (NATS_INBOX_PREFIX), which only
 * it may subscribe to: whoever could read a gateway's inbox would read every call it pulls.
 */

/** One direction's rules, as nats-server takes them: allowed unless denied; nothing allowed when `allow` is empty. */
export interface NatsSubjectRules {
  readonly allow: readonly string[];
  readonly deny?: readonly string[];
}

export interface NatsPermissions {
  readonly publish: NatsSubjectRules;
  readonly subscribe: NatsSubjectRules;
}

/**
 * - gateway: queues and runs async calls, dead-letters, pulls the trigger durables the controller made;
 * - controller: keeps the events stream and the trigger durables in line with the Functions; reads no message;
 * - local: local mode's one process, which is the gateway and also manages the trigger topology;
 * - publisher: apps (and functions, should they ever publish) putting trigger events on their own
 *   subjects; nothing of Nimbus's.
 */
export type NatsRole = 'gateway' | 'controller' | 'local' | 'publisher';

export const NATS_ROLES: readonly NatsRole[] = ['gateway', 'controller', 'local', 'publisher'];

/** The inbox prefix each component's connection uses; its user alone may subscribe below it. */
export const NATS_INBOX_PREFIX = {
  gateway: '_NIMBUS.gateway',
  controller: '_NIMBUS.controller',
} as const;

/**
 * Subjects no publisher may send to: Nimbus's own, JetStream's API and acks (so no stream or
 * consumer can be read, made or acked), NATS's system and internal subjects, and the components'
 * inboxes (where a forged answer or a forged pulled message would land).
 */
export const PUBLISHER_DENIED: readonly string[] = [
  'nimbus.>',
  '$JS.>',
  '$JSC.>',
  '$NRG.>',
  '$SYS.>',
  '$KV.>',
  '$O.>',
  '_NIMBUS.>',
  '_INBOX.>',
];

const api = '$JS.API';

/** Reading and converging one stream's configuration (never its messages). */
function streamAdmin(stream: string, remove: boolean): string[] {
  const verbs = ['INFO', 'CREATE', 'UPDATE', ...(remove ? ['DELETE'] : [])];
  return verbs.map((verb) => `${api}.STREAM.${verb}.${stream}`);
}

/**
 * Creating or converging durables `consumer` (a name, or `*` for any) of one stream. nats.js sends
 * CONSUMER.CREATE.<stream>.<name>[.<filter>] to servers from 2.9 on and DURABLE.CREATE before.
 */
function consumerAdmin(stream: string, consumer: string): string[] {
  return [
    `${api}.CONSUMER.INFO.${stream}.${consumer}`,
    `${api}.CONSUMER.CREATE.${stream}.${consumer}`,
    `${api}.CONSUMER.CREATE.${stream}.${consumer}.>`,
    `${api}.CONSUMER.DURABLE.CREATE.${stream}.${consumer}`,
  ];
}

/** Pulling from durables `consumer` and acking what they deliver. */
function pull(stream: string, consumer: string): string[] {
  return [
    `${api}.CONSUMER.INFO.${stream}.${consumer}`,
    `${api}.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
    `$JS.ACK.${stream}.${consumer}.>`,
  ];
}

function gatewayPublish(): string[] {
  return [
    'nimbus.calls.>',
    'nimbus.dlq.>',
    'nimbus.sources.>',
    ...streamAdmin(CALLS_STREAM, false),
    ...streamAdmin(DEAD_LETTER_STREAM, false),
    ...consumerAdmin(CALLS_STREAM, CALLS_CONSUMER),
    ...pull(CALLS_STREAM, CALLS_CONSUMER),
    ...pull(EVENTS_STREAM, '*'),
    ...pull(SOURCES_STREAM, '*'),
  ];
}

function triggerTopologyPublish(): string[] {
  return [
    ...streamAdmin(EVENTS_STREAM, true),
    ...consumerAdmin(EVENTS_STREAM, '*'),
    `${api}.CONSUMER.DELETE.${EVENTS_STREAM}.*`,
    `${api}.CONSUMER.LIST.${EVENTS_STREAM}`,
    `${api}.CONSUMER.NAMES.${EVENTS_STREAM}`,
    ...streamAdmin(SOURCES_STREAM, false),
    ...consumerAdmin(SOURCES_STREAM, '*'),
    `${api}.CONSUMER.DELETE.${SOURCES_STREAM}.*`,
    `${api}.CONSUMER.LIST.${SOURCES_STREAM}`,
    `${api}.CONSUMER.NAMES.${SOURCES_STREAM}`,
  ];
}

const unique = (subjects: string[]): string[] => [...new Set(subjects)];

/**
 * The permissions of one role. `publisherSubjects` narrows what the publisher may publish on
 * (default: anything but PUBLISHER_DENIED, which always applies).
 */
export function natsPermissions(
  role: NatsRole,
  publisherSubjects: readonly string[] = ['>'],
): NatsPermissions {
  switch (role) {
    case 'gateway':
      return {
        publish: { allow: unique(gatewayPublish()) },
        subscribe: { allow: [`${NATS_INBOX_PREFIX.gateway}.>`] },
      };
    case 'controller':
      return {
        publish: { allow: unique(triggerTopologyPublish()) },
        subscribe: { allow: [`${NATS_INBOX_PREFIX.controller}.>`] },
      };
    case 'local':
      return {
        publish: { allow: unique([...gatewayPublish(), ...triggerTopologyPublish()]) },
        subscribe: { allow: [`${NATS_INBOX_PREFIX.gateway}.>`] },
      };
    case 'publisher':
      // Its own inbox is the default `_INBOX`, for JetStream's publish acks.
      return {
        publish: { allow: [...publisherSubjects], deny: PUBLISHER_DENIED },
        subscribe: { allow: ['_INBOX.>'] },
      };
  }
}

/** Where the chart reads the permissions from, relative to the repository root. */
export const NATS_PERMISSIONS_FILE = 'charts/nimbus/files/nats-permissions.json';

/**
 * That file's text: the roles a cluster has (local mode runs no chart). The chart replaces the
 * publisher's allowed subjects with `nats.auth.publisherSubjects`.
 */
export function chartNatsPermissionsJson(): string {
  const roles = ['gateway', 'controller', 'publisher'] as const;
  return `${JSON.stringify(Object.fromEntries(roles.map((role) => [role, natsPermissions(role)])), null, 2)}\n`;
}
