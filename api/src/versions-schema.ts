import { type CrossFieldRule, rule } from './cross-field-rule.js';
import { isDuration, parseDuration } from './duration.js';
import type { FunctionSpec, RolloutSpec, TrafficTarget } from './function.js';
import type { SchemaNode } from './schema-node.js';
import { duration } from './schema-patterns.js';
import { VERSION_NAME_PATTERN } from './versions.js';

/**
 * `spec.versions`, `spec.traffic` and `spec.rollout`: a Function that keeps immutable versions of
 * itself, shares its calls between them, and moves to a new one step by step. Checked here
 * (OpenAPI and CEL) and in local mode by the same rules (VERSION_RULES).
 */

/**
 * A traffic tag names a URL (`/function/{name}@{tag}`): a lower-case DNS label of at most 40
 * characters that is not a version's name. (Not the Function name's own pattern: the schema's
 * messages are looked up by pattern, and each says what its field must be.)
 */
export const TAG_PATTERN = '^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$';
export const MAX_TRAFFIC_ENTRIES = 10;
export const MAX_ROLLOUT_STEPS = 10;
/** A rollout step's pause is at most a day: a longer one is a deployment that forgot itself. */
const MAX_PAUSE_MS = 24 * 3_600_000;

export const VERSION_PATTERN_HINTS: Readonly<Record<string, string>> = {
  [VERSION_NAME_PATTERN]: 'must be a version name as status.versions lists it: v and a number, such as v3',
  [TAG_PATTERN]: 'must be a lower-case DNS label of at most 40 characters, such as canary',
};

export const versionsSchema: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  description:
    'Keep immutable versions of the function: each change of its code or of anything that shapes its pods ' +
    'makes a new one, with its own replicas and scaling. Required by traffic and rollout.',
  properties: {
    keep: {
      type: 'integer',
      minimum: 1,
      maximum: 50,
      default: 5,
      description:
        'Versions kept, the newest first; those with traffic or a tag, and a rollout’s, are kept whatever this says.',
    },
  },
};

export const trafficSchema: SchemaNode = {
  type: 'array',
  maxItems: MAX_TRAFFIC_ENTRIES,
  'x-kubernetes-list-type': 'atomic',
  description:
    'How calls are shared between versions, in whole percents adding up to 100. Set, it overrides any rollout ' +
    '(the one-field rollback); unset, the latest version takes all calls, or the rollout decides.',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['percent'],
    properties: {
      version: {
        type: 'string',
        pattern: VERSION_NAME_PATTERN,
        description: 'A version by name, as status.versions lists it.',
      },
      latestVersion: {
        type: 'boolean',
        description: 'The latest version, whichever it is when the spec changes (instead of version).',
      },
      percent: { type: 'integer', minimum: 0, maximum: 100, description: 'The share of calls, 0-100.' },
      tag: {
        type: 'string',
        pattern: TAG_PATTERN,
        maxLength: 40,
        description:
          'A name that always reaches this version: /function/{name}@{tag}, or the header X-Nimbus-Version: {tag}.',
      },
    },
  },
};

export const rolloutSchema: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  required: ['steps'],
  description:
    'Move to each new version step by step, judged against the version that had all calls; rolled back at ' +
    'once when a threshold is crossed.',
  properties: {
    steps: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_ROLLOUT_STEPS,
      'x-kubernetes-list-type': 'atomic',
      description: 'The new version’s share at each step, rising; after the last it takes all calls.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['percent'],
        properties: {
          percent: { type: 'integer', minimum: 1, maximum: 99, description: 'The new version’s share.' },
          pause: { ...duration('1m'), description: 'How long the step is held and judged.' },
        },
      },
    },
    minRequests: {
      type: 'integer',
      minimum: 0,
      maximum: 1_000_000,
      default: 50,
      description: 'Calls the new version must answer in a step before the step can pass or fail it.',
    },
    maxErrorRateIncrease: {
      type: 'integer',
      minimum: 0,
      maximum: 100,
      default: 5,
      description:
        'Percentage points the new version’s error rate (5xx, timeouts) may exceed the stable one’s by.',
    },
    maxLatencyIncrease: {
      type: 'integer',
      minimum: 0,
      maximum: 10_000,
      default: 50,
      description: 'Percent the new version’s p99 latency may exceed the stable one’s by.',
    },
    p99Floor: {
      ...duration('25ms'),
      description: 'A stable p99 below this counts as this, so a fast function is not failed for a few ms.',
    },
  },
};

const sum = (traffic: readonly TrafficTarget[]) => traffic.reduce((total, t) => total + t.percent, 0);

export const VERSION_RULES: readonly CrossFieldRule[] = [
  rule<FunctionSpec>({
    at: '',
    field: 'traffic',
    cel: '!has(self.traffic) || has(self.versions)',
    message: 'needs spec.versions: traffic is shared between kept versions',
    holds: (spec) => spec.traffic === undefined || spec.versions !== undefined,
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'rollout',
    cel: '!has(self.rollout) || has(self.versions)',
    message: 'needs spec.versions: a rollout moves calls between kept versions',
    holds: (spec) => spec.rollout === undefined || spec.versions !== undefined,
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'traffic',
    cel: '!has(self.traffic) || self.traffic.map(t, t.percent).sum() == 100',
    message: 'percents must add up to 100',
    holds: (spec) => spec.traffic === undefined || sum(spec.traffic) === 100,
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'traffic',
    cel: '!has(self.traffic) || self.traffic.all(t, !has(t.tag) || self.traffic.exists_one(u, has(u.tag) && u.tag == t.tag))',
    message: 'tags must be unique',
    holds: (spec) => {
      const tags = (spec.traffic ?? []).flatMap((t) => (t.tag === undefined ? [] : [t.tag]));
      return new Set(tags).size === tags.length;
    },
  }),
  rule<TrafficTarget>({
    at: 'traffic',
    field: '',
    cel: 'has(self.version) != (has(self.latestVersion) && self.latestVersion)',
    message: 'must name exactly one of version and latestVersion: true',
    holds: (t) => (t.version !== undefined) !== (t.latestVersion === true),
  }),
  rule<TrafficTarget>({
    at: 'traffic',
    field: 'tag',
    cel: "!has(self.tag) || !self.tag.matches('^v[0-9]+$')",
    message: 'must not look like a version name (v and a number)',
    holds: (t) => t.tag === undefined || !/^v[0-9]+$/.test(t.tag),
  }),
  rule<RolloutSpec>({
    at: 'rollout',
    field: 'steps',
    cel: 'self.steps.map(s, s.percent).isSorted() && self.steps.all(s, self.steps.exists_one(u, u.percent == s.percent))',
    message: 'percents must rise from one step to the next',
    holds: (r) =>
      r.steps.every((s, i) => i === 0 || s.percent > (r.steps[i - 1] as { percent: number }).percent),
  }),
  rule<RolloutSpec>({
    at: 'rollout',
    field: 'steps',
    cel: "self.steps.all(s, !has(s.pause) || duration(s.pause) <= duration('24h'))",
    message: 'a step’s pause must be at most 24h',
    holds: (r) =>
      r.steps.every(
        (s) => s.pause === undefined || !isDuration(s.pause) || parseDuration(s.pause) <= MAX_PAUSE_MS,
      ),
  }),
];
