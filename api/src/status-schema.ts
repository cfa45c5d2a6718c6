import type { SchemaNode } from './schema-node.js';

/**
 * A Function's `status`: what the controller last observed of it, written through the status
 * subresource. The words `kubectl explain` shows are completed in schema.ts, as the spec's are.
 */
export const statusSchema: SchemaNode = {
  type: 'object',
  description: 'What the controller last observed of the function. Written by Nimbus, not by users.',
  properties: {
    observedGeneration: {
      type: 'integer',
      description: 'The metadata.generation of the spec this status describes.',
    },
    replicas: { type: 'integer', description: "Replicas of the function's Deployment, ready or not." },
    readyReplicas: { type: 'integer', description: 'Replicas ready to take calls.' },
    url: {
      type: 'string',
      description:
        'Where the function is called through the gateway: <gateway URL>/function/<name>.<namespace>.',
    },
    triggers: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description:
        'Each event-source trigger: whether it is set up on its origin, and how its reader is doing.',
      items: {
        type: 'object',
        required: ['name', 'kind', 'ready', 'reason', 'message'],
        properties: {
          name: { type: 'string', description: "The trigger's name." },
          kind: { type: 'string', description: 'postgres, s3, rabbitmq, mqtt or webhook.' },
          ready: { type: 'boolean', description: 'Set up, and (once a gateway reports) connected.' },
          reason: { type: 'string', description: 'Why, in one CamelCase word.' },
          message: { type: 'string', description: 'Why, in words.' },
          connected: {
            type: 'boolean',
            description: 'Whether the gateway reading it is connected to its origin.',
          },
          backlog: { type: 'integer', description: 'Events its origin holds that were not handed on yet.' },
          lastError: { type: 'string', description: "The reader's last failure." },
          lastEventTime: {
            type: 'string',
            description: 'When an event of it was last handed on, in RFC 3339.',
          },
        },
      },
    },
    conditions: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      description:
        'Ready (the current revision serves, or the function is at zero), Deployed (its ConfigMap, ' +
        'Deployment and Service are applied), with spec.state StateReady, with state turned off ' +
        'StateRetained (whether its keys are kept, and until when), with spec.secrets SecretsMounted ' +
        '(False names each entry refused), and with event-source triggers TriggersReady.',
      items: {
        type: 'object',
        required: ['type', 'status'],
        properties: {
          type: {
            type: 'string',
            description:
              "The condition's name: Ready, Deployed, StateReady, StateRetained, SecretsMounted or TriggersReady.",
          },
          status: {
            type: 'string',
            enum: ['True', 'False', 'Unknown'],
            description: 'Whether the condition holds.',
          },
          reason: {
            type: 'string',
            description: 'Why, in one CamelCase word, such as ReplicasReady, RollingOut or SourceTooLarge.',
          },
          message: { type: 'string', description: 'Why, in words.' },
          lastTransitionTime: { type: 'string', description: 'When status last changed, in RFC 3339.' },
          observedGeneration: {
            type: 'integer',
            minimum: 0,
            description: 'The metadata.generation of the spec the condition was judged on.',
          },
        },
      },
    },
  },
};
