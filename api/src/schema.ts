import { DURATION_PATTERN } from './duration.js';
import { FUNCTION_NAME_PATTERN, NAMESPACE_PATTERN } from './names.js';
import { CROSS_FIELD_RULES } from './rules.js';

/** An OpenAPI v3 schema node, in the structural form a CRD requires. */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  'x-kubernetes-validations'?: { rule: string; message: string; fieldPath?: string }[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

export const HANDLER_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_\\-/]*(\\.(mjs|cjs|js))?\\.[A-Za-z_$][A-Za-z0-9_$]*$';
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$';
export const SUBJECT_PATTERN = '^[A-Za-z0-9_\\-]+(\\.[A-Za-z0-9_\\-*>]+)*$';
const SECRET_NAME_PATTERN = '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$';

/** What a failed pattern means, in words a function author can act on. */
export const PATTERN_HINTS: Readonly<Record<string, string>> = {
  [DURATION_PATTERN]: 'must be a duration such as 500ms, 30s or 1m30s',
  [FUNCTION_NAME_PATTERN]:
    'must be a lower-case RFC 1035 label: letters, digits and "-", starting with a letter, at most 63 characters',
  [NAMESPACE_PATTERN]: 'must be a lower-case RFC 1123 label of at most 63 characters',
  [HANDLER_PATTERN]: 'must be <module>.<export>, for example index.default',
  [ENV_NAME_PATTERN]: 'must be a C identifier: letters, digits and "_", not starting with a digit',
  [QUANTITY_PATTERN]: 'must be a Kubernetes quantity such as 100m, 64Mi or 1',
  [SUBJECT_PATTERN]: 'must be a NATS subject such as orders.created',
  [SECRET_NAME_PATTERN]: 'must be a lower-case RFC 1123 subdomain',
};

const duration = (defaultValue?: string): SchemaNode => ({
  type: 'string',
  pattern: DURATION_PATTERN,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
});

/**
 * An object whose default is made of its properties' defaults. The API server checks a default
 * against the object's CEL rules before filling in nested defaults, so `default: {}` would fail
 * `self.min <= self.max`; spelling the values out here keeps them in one place.
 */
function withDefaults(node: SchemaNode): SchemaNode {
  const values = Object.entries(node.properties ?? {}).filter(([, p]) => p.default !== undefined);
  // Copies, so the generated YAML repeats the values instead of linking them with anchors.
  return { ...node, default: Object.fromEntries(values.map(([k, p]) => [k, structuredClone(p.default)])) };
}

const resourceList: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  properties: {
    cpu: { type: 'string', pattern: QUANTITY_PATTERN },
    memory: { type: 'string', pattern: QUANTITY_PATTERN },
  },
};

const specProperties: Record<string, SchemaNode> = {
  runtime: {
    type: 'string',
    enum: ['node20'],
    default: 'node20',
    description: 'The runtime-node image to run.',
  },
  image: {
    type: 'string',
    minLength: 1,
    maxLength: 512,
    description: 'A custom image built FROM the runtime image; instead of source.',
  },
  source: {
    type: 'object',
    additionalProperties: false,
    description: 'Code that needs no image build.',
    properties: {
      inline: { type: 'string', minLength: 1, description: 'ES module text.' },
      path: {
        type: 'string',
        minLength: 1,
        description: 'A directory beside the YAML file (local mode only).',
      },
    },
  },
  handler: { type: 'string', pattern: HANDLER_PATTERN, default: 'index.default', maxLength: 253 },
  env: {
    type: 'array',
    maxItems: 100,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: ENV_NAME_PATTERN, maxLength: 128 },
        value: { type: 'string', default: '' },
      },
    },
  },
  secrets: {
    type: 'array',
    maxItems: 32,
    'x-kubernetes-list-type': 'set',
    items: { type: 'string', pattern: SECRET_NAME_PATTERN },
  },
  resources: {
    type: 'object',
    additionalProperties: false,
    properties: { requests: resourceList, limits: resourceList },
  },
  timeout: duration('30s'),
  concurrency: {
    type: 'integer',
    minimum: 1,
    maximum: 10000,
    default: 50,
    description: 'Requests in flight per replica; beyond it requests queue, then get 429.',
  },
  scale: withDefaults({
    type: 'object',
    additionalProperties: false,
    properties: {
      min: { type: 'integer', minimum: 0, maximum: 1000, default: 0 },
      max: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
      target: { type: 'integer', minimum: 1, maximum: 10000, default: 10 },
      scaleToZeroAfter: duration('60s'),
    },
  }),
  http: withDefaults({
    type: 'object',
    additionalProperties: false,
    properties: { auth: { type: 'string', enum: ['none', 'key'], default: 'none' } },
  }),
  triggers: {
    type: 'array',
    maxItems: 16,
    items: {
      type: 'object',
      additionalProperties: false,
      properties: {
        nats: {
          type: 'object',
          additionalProperties: false,
          required: ['subject'],
          properties: {
            subject: { type: 'string', pattern: SUBJECT_PATTERN, maxLength: 255 },
            maxDeliver: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
            backoff: { type: 'array', maxItems: 20, items: duration() },
          },
        },
        schedule: {
          type: 'object',
          additionalProperties: false,
          required: ['cron'],
          properties: {
            cron: { type: 'string', minLength: 9, maxLength: 128 },
            timezone: { type: 'string', default: 'UTC', maxLength: 64 },
            body: { type: 'string', maxLength: 65536 },
          },
        },
      },
    },
  },
  state: {
    type: 'object',
    additionalProperties: false,
    properties: { enabled: { type: 'boolean', default: false } },
  },
  async: withDefaults({
    type: 'object',
    additionalProperties: false,
    description: 'How async calls (POST /async-function/{name}) are retried before they are dead-lettered.',
    properties: {
      maxAttempts: {
        type: 'integer',
        minimum: 1,
        maximum: 100,
        default: 3,
        description: 'Attempts in all, the first included.',
      },
      retryOn: {
        type: 'array',
        maxItems: 200,
        'x-kubernetes-list-type': 'set',
        items: { type: 'integer', minimum: 400, maximum: 599 },
        default: [429, 500, 502, 503, 504],
        description: 'Response status codes worth another attempt; a connection failure always is.',
      },
      backoff: withDefaults({
        type: 'object',
        additionalProperties: false,
        description: 'Wait before retry n: initial doubled n-1 times, capped at max, with jitter.',
        properties: { initial: duration('1s'), max: duration('5m') },
      }),
    },
  }),
};

/** Attaches each cross-field rule's CEL to the schema node it sits on. */
function withCrossFieldRules(spec: SchemaNode): SchemaNode {
  for (const rule of CROSS_FIELD_RULES) {
    let node = spec;
    for (const step of rule.at.split('.').filter(Boolean)) {
      const next = node.properties?.[step];
      if (next === undefined) throw new Error(`cross-field rule at unknown path spec.${rule.at}`);
      node = next.items ?? next;
    }
    const fieldPath = rule.field === '' ? undefined : `.${rule.field}`;
    node['x-kubernetes-validations'] = [
      ...(node['x-kubernetes-validations'] ?? []),
      { rule: rule.cel, message: rule.message, ...(fieldPath === undefined ? {} : { fieldPath }) },
    ];
  }
  return spec;
}

export const functionSpecSchema: SchemaNode = withCrossFieldRules({
  type: 'object',
  additionalProperties: false,
  properties: specProperties,
});

export const functionStatusSchema: SchemaNode = {
  type: 'object',
  properties: {
    observedGeneration: { type: 'integer' },
    replicas: { type: 'integer' },
    readyReplicas: { type: 'integer' },
    url: { type: 'string' },
    conditions: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: {
        type: 'object',
        required: ['type', 'status'],
        properties: {
          type: { type: 'string' },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: { type: 'string' },
          message: { type: 'string' },
          lastTransitionTime: { type: 'string' },
          observedGeneration: { type: 'integer', minimum: 0 },
        },
      },
    },
  },
};

/** The whole document as local mode reads it from YAML; a cluster's API server checks the same spec. */
export const functionDocumentSchema: SchemaNode = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', enum: ['nimbus.dev/v1alpha1'] },
    kind: { type: 'string', enum: ['Function'] },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: FUNCTION_NAME_PATTERN },
        namespace: { type: 'string', pattern: NAMESPACE_PATTERN, default: 'default' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        annotations: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    spec: functionSpecSchema,
    status: functionStatusSchema,
  },
};
