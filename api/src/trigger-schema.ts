import type { SchemaNode } from './schema-node.js';
import { SECRET_NAME_PATTERN, SUBJECT_PATTERN, duration } from './schema-patterns.js';

/**
 * `spec.triggers`: what invokes the function besides its callers. A NATS subject, a cron
 * schedule, or an event source outside Nimbus (docs/event-sources.md). Every entry has exactly
 * one kind (a CEL rule in rules.ts); a source entry also has a name unique in the Function.
 */

export const TRIGGER_NAME_PATTERN = '^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$';
/** `schema.table` or `table`: unquoted Postgres identifiers. */
export const TABLE_PATTERN = '^([a-z_][a-z0-9_$]{0,62}\\.)?[a-z_][a-z0-9_$]{0,62}$';
const BUCKET_PATTERN = '^[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]$';

const secretKey = (description: string): SchemaNode => ({
  type: 'object',
  additionalProperties: false,
  required: ['name', 'key'],
  description: `${description} From a Secret in the Function's namespace labelled nimbus.dev/trigger-secret: "true".`,
  properties: {
    name: { type: 'string', pattern: SECRET_NAME_PATTERN, maxLength: 253, description: 'The Secret.' },
    key: {
      type: 'string',
      pattern: '^[-._a-zA-Z0-9]+$',
      maxLength: 253,
      description: 'The key in its data.',
    },
  },
});

/** The retry fields every kind that delivers events shares. */
const delivery: Record<string, SchemaNode> = {
  maxDeliver: {
    type: 'integer',
    minimum: 1,
    maximum: 100,
    default: 5,
    description:
      'Deliveries per event, the first included; after the last one fails the event is dead-lettered.',
  },
  backoff: {
    type: 'array',
    maxItems: 20,
    description:
      'Waits before each redelivery, in order; the last step repeats, and steps beyond the ' +
      'maxDeliver - 1 redeliveries are ignored. Without it a failed event comes again at once.',
    items: duration(),
  },
};

const concurrency = (defaultValue: number, description: string): SchemaNode => ({
  type: 'integer',
  minimum: 1,
  maximum: 1000,
  default: defaultValue,
  description,
});

const triggerProperties: Record<string, SchemaNode> = {
  name: {
    type: 'string',
    pattern: TRIGGER_NAME_PATTERN,
    maxLength: 32,
    description:
      'Names the trigger in status, metrics, the dead letters and a webhook URL; unique in the Function. ' +
      'Required for the event-source kinds.',
  },
  nats: {
    type: 'object',
    additionalProperties: false,
    required: ['subject'],
    description:
      'Each message on the subject is POSTed to the function as a CloudEvent; a 2xx acknowledges it, ' +
      'anything else has it delivered again.',
    properties: {
      subject: {
        type: 'string',
        pattern: SUBJECT_PATTERN,
        maxLength: 255,
        description:
          'The subject to take messages from. One that Nimbus or NATS keeps (nimbus.>, $JS.>, _INBOX.>) is ' +
          'refused with an Event.',
      },
      maxDeliver: {
        type: 'integer',
        minimum: 1,
        maximum: 100,
        default: 5,
        description:
          'Deliveries per message, the first included; after the last one fails the message is dead-lettered.',
      },
      backoff: {
        type: 'array',
        maxItems: 20,
        description:
          'Waits before each redelivery, in order; the last step repeats, and steps beyond the ' +
          'maxDeliver - 1 redeliveries are ignored. Without it a failed message comes again at once.',
        items: duration(),
      },
    },
  },
  schedule: {
    type: 'object',
    additionalProperties: false,
    required: ['cron'],
    description:
      'Invokes the function at each tick, once across all gateway replicas, with a CloudEvent of type ' +
      'dev.nimbus.schedule.tick.',
    properties: {
      cron: {
        type: 'string',
        minLength: 9,
        maxLength: 128,
        description: 'A cron pattern of five fields, or six with seconds first (croner syntax): */5 * * * *.',
      },
      timezone: {
        type: 'string',
        default: 'UTC',
        maxLength: 64,
        description: 'The IANA time zone the pattern is read in, such as Europe/Berlin.',
      },
      body: {
        type: 'string',
        maxLength: 65536,
        description: 'The body of each tick: sent as application/json when it parses as JSON, else as text.',
      },
      concurrencyPolicy: {
        type: 'string',
        enum: ['Allow', 'Forbid', 'Replace'],
        default: 'Allow',
        description:
          'What a tick does while the previous run of this schedule still runs, on any gateway: Allow ' +
          'runs both, Forbid skips the new tick (counted and logged), Replace cancels the running one ' +
          'and starts the new one.',
      },
    },
  },

  postgres: {
    type: 'object',
    additionalProperties: false,
    required: ['connection', 'tables'],
    description:
      "Row changes of PostgreSQL tables, read through logical replication with a slot of the trigger's own, " +
      'as CloudEvents of type dev.nimbus.postgres.{insert,update,delete}.',
    properties: {
      connection: secretKey('A postgres:// URL of a role with the REPLICATION attribute.'),
      tables: {
        type: 'array',
        minItems: 1,
        maxItems: 64,
        items: { type: 'string', pattern: TABLE_PATTERN },
        description: 'The tables whose changes are events: schema.table, or table for the public schema.',
      },
      operations: {
        type: 'array',
        maxItems: 3,
        items: { type: 'string', enum: ['insert', 'update', 'delete'] },
        description: 'Which changes are events; unset, all three.',
      },
      concurrency: concurrency(
        1,
        'Events delivered at once over every gateway; 1 delivers them one by one in commit order.',
      ),
      ...delivery,
    },
  },
  s3: {
    type: 'object',
    additionalProperties: false,
    required: ['endpoint', 'bucket', 'credentials'],
    description:
      'Objects created or deleted in a bucket of S3-compatible storage, as CloudEvents of type ' +
      'dev.nimbus.s3.object.{created,deleted} carrying the bucket, key, size, ETag and content type.',
    properties: {
      endpoint: {
        type: 'string',
        pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$',
        maxLength: 512,
        description: "The store's endpoint URL.",
      },
      region: {
        type: 'string',
        maxLength: 64,
        default: 'us-east-1',
        description: 'The region requests are signed for.',
      },
      bucket: {
        type: 'string',
        pattern: BUCKET_PATTERN,
        description: 'The bucket whose objects are watched.',
      },
      prefix: { type: 'string', maxLength: 1024, description: 'Only keys that start with it.' },
      suffix: { type: 'string', maxLength: 1024, description: 'Only keys that end with it.' },
      events: {
        type: 'array',
        maxItems: 2,
        items: { type: 'string', enum: ['created', 'deleted'] },
        description: 'Which changes are events; unset, both.',
      },
      mode: {
        type: 'string',
        enum: ['notify', 'poll'],
        default: 'notify',
        description:
          'notify: the store pushes S3 event notifications to the gateway. poll: the gateway lists the ' +
          'bucket every pollInterval, for stores that cannot push.',
      },
      pollInterval: { ...duration('10s'), description: 'poll: how often the bucket is listed.' },
      credentials: {
        type: 'object',
        additionalProperties: false,
        required: ['secret'],
        description:
          'A Secret labelled nimbus.dev/trigger-secret: "true" with accessKeyId and secretAccessKey ' +
          '(and optionally sessionToken).',
        properties: {
          secret: {
            type: 'string',
            pattern: SECRET_NAME_PATTERN,
            maxLength: 253,
            description: 'The Secret.',
          },
        },
      },
      notifyToken: secretKey('notify: the token the store sends, as a bearer token or ?token=.'),
      concurrency: concurrency(16, 'Events delivered at once over every gateway.'),
      ...delivery,
    },
  },
  rabbitmq: {
    type: 'object',
    additionalProperties: false,
    required: ['connection', 'queue'],
    description:
      'Messages of a RabbitMQ (AMQP 0-9-1) queue, each acknowledged once the function answers 2xx, as ' +
      'CloudEvents of type dev.nimbus.rabbitmq.message.',
    properties: {
      connection: secretKey('An amqp:// or amqps:// URL, with the vhost.'),
      queue: {
        type: 'string',
        minLength: 1,
        maxLength: 255,
        pattern: '^[!-~]+$',
        description: 'The queue to consume.',
      },
      declare: {
        type: 'boolean',
        default: false,
        description: 'Declare the queue (durable) and its bindings; unset, the queue must exist.',
      },
      bindings: {
        type: 'array',
        maxItems: 32,
        description: 'declare: exchanges the queue is bound to.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['exchange'],
          properties: {
            exchange: {
              type: 'string',
              minLength: 1,
              maxLength: 255,
              pattern: '^[!-~]+$',
              description: 'An exchange that exists.',
            },
            routingKey: {
              type: 'string',
              maxLength: 255,
              default: '',
              description: 'The binding key (a pattern for a topic exchange).',
            },
          },
        },
      },
      prefetch: concurrency(10, 'Messages held unacknowledged by each gateway: the concurrency bound.'),
      ...delivery,
    },
  },
  mqtt: {
    type: 'object',
    additionalProperties: false,
    required: ['connection', 'topics'],
    description:
      'Messages on MQTT topic filters, received at QoS 1 in a persistent session (so what is published ' +
      'while Nimbus is away is delivered when it is back), as CloudEvents of type dev.nimbus.mqtt.message.',
    properties: {
      connection: secretKey('An mqtt://, mqtts://, ws:// or wss:// URL, with user and password if needed.'),
      topics: {
        type: 'array',
        minItems: 1,
        maxItems: 32,
        items: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[^\\x00]+$' },
        description: 'Topic filters, with + for one level and a final # for any number.',
      },
      qos: { type: 'integer', enum: [0, 1], default: 1, description: '1: at least once. 0: at most once.' },
      concurrency: concurrency(16, 'Events delivered at once over every gateway.'),
      ...delivery,
    },
  },
  webhook: {
    type: 'object',
    additionalProperties: false,
    required: ['secret'],
    description:
      'A public URL, /webhook/{namespace}/{function}/{trigger}, that takes signed POSTs: answered 202 once ' +
      'stored durably, then delivered as a CloudEvent of type dev.nimbus.webhook.',
    properties: {
      secret: secretKey('The shared signing secret.'),
      signature: {
        type: 'string',
        enum: ['standard', 'github', 'stripe', 'hmac-sha256'],
        default: 'standard',
        description:
          'How requests are signed: standard (Standard Webhooks: webhook-id, webhook-timestamp, ' +
          'webhook-signature), github (X-Hub-Signature-256), stripe (Stripe-Signature), hmac-sha256 ' +
          '(X-Signature-256: sha256=<hex of X-Timestamp.body>).',
      },
      tolerance: {
        ...duration('5m'),
        description: 'How far a signed timestamp may be from now; older requests are refused as replays.',
      },
      concurrency: concurrency(16, 'Events delivered at once over every gateway.'),
      ...delivery,
    },
  },
};

export const triggersSchema: SchemaNode = {
  type: 'array',
  maxItems: 16,
  description:
    'Events that invoke the function: each entry is a NATS subject, a cron schedule, or an event source ' +
    '(postgres, s3, rabbitmq, mqtt, webhook).',
  items: { type: 'object', additionalProperties: false, properties: triggerProperties },
};
