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
    latestVersion: {
      type: 'string',
      description: 'With spec.versions: the version the spec describes now.',
    },
    versions: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description: 'With spec.versions: every version kept, the newest first, its readiness and its share.',
      items: {
        type: 'object',
        required: ['name', 'revision', 'createdAt', 'replicas', 'readyReplicas', 'percent'],
        properties: {
          name: { type: 'string', description: 'v and a number, counted from v1.' },
          revision: { type: 'string', description: 'The hash of what shapes its pods and code.' },
          createdAt: { type: 'string', description: 'When it was made, in RFC 3339.' },
          replicas: { type: 'integer', description: 'Its replicas, ready or not.' },
          readyReplicas: { type: 'integer', description: 'Its replicas ready to take calls.' },
          percent: { type: 'integer', description: 'Its share of calls now.' },
          tags: {
            type: 'array',
            items: { type: 'string' },
            description: 'The tags that reach it: /function/{name}@{tag}.',
          },
        },
      },
    },
    traffic: {
      type: 'array',
      'x-kubernetes-list-type': 'atomic',
      description:
        'How calls are shared now, resolved from spec.traffic or the rollout: what every gateway applies.',
      items: {
        type: 'object',
        required: ['version', 'percent'],
        properties: {
          version: { type: 'string', description: "The version's name." },
          percent: { type: 'integer', description: 'Its share of calls, 0-100.' },
          tag: { type: 'string', description: 'A name that always reaches it.' },
        },
      },
    },
    rollout: {
      type: 'object',
      required: ['phase', 'stable', 'candidate', 'steps', 'since'],
      description: 'The current or last rollout (spec.rollout).',
      properties: {
        phase: {
          type: 'string',
          enum: ['Progressing', 'Succeeded', 'RolledBack', 'Aborted'],
          description:
            'Progressing, Succeeded, RolledBack (a threshold was crossed) or Aborted (spec.traffic was set).',
        },
        stable: { type: 'string', description: 'The version that had all calls when it began.' },
        candidate: { type: 'string', description: 'The version rolled out.' },
        step: { type: 'integer', description: 'While Progressing: the current step, from 1.' },
        steps: { type: 'integer', description: 'Steps in all.' },
        since: {
          type: 'string',
          description: 'When the current step began, or the rollout ended, in RFC 3339.',
        },
        reason: { type: 'string', description: 'Why it ended as it did, in one CamelCase word.' },
        message: { type: 'string', description: 'Why, in words.' },
      },
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
        '(False names each entry refused), with event-source triggers TriggersReady, with routes RoutesReady, and with spec.rollout RolledOut (False once a rollout was rolled back).',
      items: {
        type: 'object',
        required: ['type', 'status'],
        properties: {
          type: {
            type: 'string',
            description:
              "The condition's name: Ready, Deployed, StateReady, StateRetained, SecretsMounted, TriggersReady, RoutesReady or RolledOut.",
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
