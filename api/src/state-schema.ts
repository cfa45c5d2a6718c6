import type { SchemaNode } from './schema-node.js';
import { duration } from './schema-patterns.js';

/**
 * `spec.state`: the function's keyed state (ctx.state), and what becomes of its keys once it is
 * turned off. Its limits default to the platform's; rules: rules.ts.
 */
export const stateSchema: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  description: 'Keyed state for the function, as ctx.state.',
  properties: {
    enabled: {
      type: 'boolean',
      default: false,
      description:
        "Gives the handler ctx.state: keys under the function's own prefix, in Redis (local mode without " +
        'one: in memory). In a cluster, turning it off keeps the keys as deletionPolicy says; deleting the ' +
        'Function deletes them.',
    },
    deletionPolicy: {
      type: 'string',
      enum: ['Retain', 'Delete'],
      description:
        "What becomes of the keys when enabled is turned off, in a cluster (as a PersistentVolume's " +
        'reclaim policy). Retain (the default when unset): they are kept, until retainFor has passed or ' +
        'else until the Function is deleted, and turning state on again finds them; the status condition ' +
        'StateRetained says until when. Delete: they are deleted at once.',
    },
    retainFor: {
      ...duration(),
      maxLength: 32,
      description:
        'With deletionPolicy Retain: how long the keys are kept after enabled is turned off before they ' +
        'are deleted. Unset: until the Function is deleted.',
    },
    maxKeys: {
      type: 'integer',
      minimum: 1,
      maximum: 100_000_000,
      description:
        'Most keys the function may hold; a write of a new key past it is refused (507). ' +
        "Default: the platform's NIMBUS_STATE_MAX_KEYS (10000).",
    },
    maxBytes: {
      type: 'integer',
      minimum: 1024,
      maximum: 68_719_476_736,
      description:
        'Most bytes the function may hold (its keys and their JSON values); a write that grows past it ' +
        "is refused (507). Default: the platform's NIMBUS_STATE_MAX_BYTES (16 MiB).",
    },
  },
};
