import { destinationsSchema } from './destination-schema.js';
import { DURATION_PATTERN } from './duration.js';
import { HTTP_AUTH_PROPERTIES, JWKS_URL_PATTERN } from './http-auth-schema.js';
import { FUNCTION_NAME_PATTERN, NAMESPACE_PATTERN } from './names.js';
import { ROUTE_PATTERN_HINTS, routesSchema } from './route-schema.js';
import { CROSS_FIELD_RULES } from './rules.js';
import { withDescriptions } from './schema-descriptions.js';
import type { SchemaNode } from './schema-node.js';
import { SECRET_NAME_PATTERN, SUBJECT_PATTERN, duration } from './schema-patterns.js';
import { stateSchema } from './state-schema.js';
import { statusSchema } from './status-schema.js';
import { triggersSchema } from './trigger-schema.js';
import { VERSION_PATTERN_HINTS, rolloutSchema, trafficSchema, versionsSchema } from './versions-schema.js';

export type { SchemaNode } from './schema-node.js';
export { SUBJECT_PATTERN } from './schema-patterns.js';

// The spec below is one tree, read top to bottom the way `kubectl explain` walks it, each field
// beside its words. Only self-contained parts live in files of their own (spec.triggers,
// spec.state, spec.destinations, and the status), so the fields a reader looks up together stay here.

export const HANDLER_PATTERN =
  '^[A-Za-z0-9_][A-Za-z0-9_\\-/]*(\\.(mjs|cjs|js|py))?\\.[A-Za-z_$][A-Za-z0-9_$]*$';
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$';
export const READINESS_PATH_PATTERN = '^/[!-~]*$';

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
  [READINESS_PATH_PATTERN]: 'must be a path starting with /, without spaces',
  ...ROUTE_PATTERN_HINTS,
  ...VERSION_PATTERN_HINTS,
  [JWKS_URL_PATTERN]: 'must be an absolute http:// or https:// URL without credentials or a fragment',
};

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

const resourceList = (description: string): SchemaNode => ({
  type: 'object',
  additionalProperties: false,
  description,
  properties: {
    cpu: { type: 'string', pattern: QUANTITY_PATTERN, description: 'CPU, in cores: 100m is a tenth of one.' },
    memory: { type: 'string', pattern: QUANTITY_PATTERN, description: 'Memory, in bytes: 64Mi is 64 MiB.' },
  },
});

/** A token bucket's two numbers; `burst` defaults to requestsPerSecond rounded up. */
const rateLimit = (description: string): SchemaNode => ({
  type: 'object',
  additionalProperties: false,
  required: ['requestsPerSecond'],
  description,
  properties: {
    requestsPerSecond: {
      type: 'number',
      minimum: 0.001,
      maximum: 1_000_000,
      description: 'Calls admitted per second on average: 0.5 is one every two seconds.',
    },
    burst: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      description: 'Calls admitted at once after a quiet spell; requestsPerSecond rounded up when not given.',
    },
  },
});

const specProperties: Record<string, SchemaNode> = {
  runtime: {
    type: 'string',
    enum: ['node20', 'python3.11', 'container'],
    default: 'node20',
    description:
      'What runs the code. node20: a Node.js handler on the runtime-node server. python3.11: a Python ' +
      'handler (def or async def handle(event, ctx)) on the runtime-python server. container: any image ' +
      '(or, in local mode, any command) that serves HTTP on $PORT; see command, port and readiness.',
  },
  image: {
    type: 'string',
    minLength: 1,
    maxLength: 512,
    description:
      'A container image; instead of source. With node20, built FROM the runtime-node image with the code ' +
      'in /var/nimbus/function; with container, any image serving HTTP on $PORT. Cluster only: local mode ' +
      'runs code from source.',
  },
  source: {
    type: 'object',
    additionalProperties: false,
    description:
      'The code, run with no image build: on the runtime-node image, or with container a folder (path) ' +
      'that command runs in.',
    properties: {
      inline: {
        type: 'string',
        minLength: 1,
        description:
          'The module as text: an ES module, unless handler names a .cjs or .js module. In a cluster it is ' +
          'kept in a ConfigMap, so at most 1 MiB.',
      },
      path: {
        type: 'string',
        minLength: 1,
        description:
          "A folder of code, relative to the Function's YAML file. Local mode only: a cluster reports " +
          'SourcePathNotSupported.',
      },
    },
  },
  handler: {
    type: 'string',
    pattern: HANDLER_PATTERN,
    default: 'index.default',
    maxLength: 253,
    description:
      "The function to call: an export of a module in the code's folder. A module without an extension " +
      'is looked up as .mjs, .cjs, then .js. For python3.11 a function of a .py module; the default ' +
      '(index.default) means main.handle there.',
  },
  command: {
    type: 'array',
    minItems: 1,
    maxItems: 64,
    description:
      "runtime container: the program and its arguments. Locally it runs in source.path's folder (a " +
      "relative program is looked up there, then on PATH); in a cluster it replaces the image's entrypoint.",
    items: { type: 'string', minLength: 1, maxLength: 4096 },
  },
  port: {
    type: 'integer',
    minimum: 1,
    maximum: 65535,
    description:
      'runtime container: the port it serves HTTP on, also given to it as $PORT; 8080 when unset. Local ' +
      'mode picks a free port of its own and gives that as $PORT instead.',
  },
  readiness: {
    type: 'object',
    additionalProperties: false,
    description:
      'runtime container: how Nimbus learns a replica can take calls, checked every second; unset, a TCP ' +
      'connection to the port.',
    properties: {
      httpGet: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        description: 'Ready while a GET of the path is answered 2xx or 3xx within a second.',
        properties: {
          path: {
            type: 'string',
            pattern: READINESS_PATH_PATTERN,
            maxLength: 1024,
            description: 'The path to GET, such as /_/health or /healthz.',
          },
        },
      },
      tcpSocket: {
        type: 'object',
        additionalProperties: false,
        description: 'Ready while the port accepts a connection.',
        properties: {},
      },
    },
  },
  env: {
    type: 'array',
    maxItems: 100,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    description:
      "Environment variables of the function's code. The platform's own settings (HOST, PORT, NIMBUS_*) " +
      'win over a name given here.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: {
          type: 'string',
          pattern: ENV_NAME_PATTERN,
          maxLength: 128,
          description: "The variable's name.",
        },
        value: { type: 'string', default: '', description: "The variable's value." },
      },
    },
  },
  secrets: {
    type: 'array',
    maxItems: 32,
    'x-kubernetes-list-type': 'set',
    description:
      "Secrets in the Function's namespace, each mounted read-only at /var/nimbus/secrets/<name>, once it " +
      'opts in with the label nimbus.dev/function-secret: "true"; one without the label (or missing) is not ' +
      'mounted, and the condition SecretsMounted names its entry. Cluster only: local mode mounts none.',
    items: { type: 'string', pattern: SECRET_NAME_PATTERN },
  },
  resources: {
    type: 'object',
    additionalProperties: false,
    description:
      "CPU and memory of each replica's container, as in a Pod. Cluster only: local mode ignores them.",
    properties: {
      requests: resourceList('What the scheduler reserves for each replica.'),
      limits: resourceList('The most each replica may use.'),
    },
  },
  timeout: {
    ...duration('30s'),
    description:
      'How long one call may run. Past it the runtime answers 504 and fires ctx.signal; the gateway waits ' +
      'a grace period longer.',
  },
  concurrency: {
    type: 'integer',
    minimum: 1,
    maximum: 10000,
    default: 50,
    description:
      'Requests in flight per replica; beyond it up to twice as many more wait in a queue, then get 429.',
  },
  scale: withDefaults({
    type: 'object',
    additionalProperties: false,
    description:
      'How many replicas run: the autoscaler follows requests in flight and held, sampled every second.',
    properties: {
      min: {
        type: 'integer',
        minimum: 0,
        maximum: 1000,
        default: 0,
        description: 'The fewest replicas; 0 lets the function scale to zero and wake on a request.',
      },
      max: { type: 'integer', minimum: 1, maximum: 1000, default: 20, description: 'The most replicas.' },
      target: {
        type: 'integer',
        minimum: 1,
        maximum: 10000,
        default: 10,
        description: 'Concurrent requests per replica the autoscaler aims for.',
      },
      scaleToZeroAfter: {
        ...duration('60s'),
        description: 'With min 0: how long without a request before the last replica stops.',
      },
    },
  }),
  http: withDefaults({
    type: 'object',
    additionalProperties: false,
    description: 'Who may call the function over HTTP.',
    properties: {
      ...HTTP_AUTH_PROPERTIES,
      rateLimit: {
        ...rateLimit(
          'Calls admitted to the function, sync and async together, counted over all gateway replicas; beyond ' +
            'it callers get 429 with Retry-After, and an async call is refused before it is queued.',
        ),
        properties: {
          ...rateLimit('').properties,
          anonymous: rateLimit(
            'A limit of its own for the callers that present no known API key and no verified token, all ' +
              'of them together; they also count against the limit above.',
          ),
          perCaller: rateLimit(
            'A limit for each caller on its own: each API key, and each signed-in subject (a verified ' +
              "JWT's issuer and sub); callers also count against the limit above.",
          ),
        },
      },
      routes: routesSchema,
    },
  }),
  triggers: triggersSchema,
  state: stateSchema,
  destinations: destinationsSchema,
  // Not defaulted: a Function keeps versions, and rolls out, only when it asks to.
  versions: versionsSchema,
  traffic: trafficSchema,
  rollout: rolloutSchema,
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
        properties: {
          initial: { ...duration('1s'), description: 'The wait before the first retry.' },
          max: { ...duration('5m'), description: 'The longest wait between two attempts.' },
        },
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

export const functionSpecSchema: SchemaNode = withDescriptions(
  PATTERN_HINTS,
  withCrossFieldRules({
    type: 'object',
    additionalProperties: false,
    description: 'What the function runs, and how it is called, scaled and retried.',
    properties: specProperties,
  }),
);

export const functionStatusSchema: SchemaNode = withDescriptions(PATTERN_HINTS, statusSchema);

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
