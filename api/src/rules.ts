import { type CrossFieldRule, rule } from './cross-field-rule.js';
import { isDuration, parseDuration } from './duration.js';
import type {
  Destination,
  EnvVar,
  FunctionSource,
  FunctionSpec,
  FunctionState,
  RateLimit,
  Readiness,
  Trigger,
} from './function.js';
import { HTTP_AUTH_RULES } from './http-auth-schema.js';
import { ROUTE_RULES } from './route-schema.js';
import { SOURCE_KINDS, sourceKindOf } from './source-triggers.js';
import { VERSION_RULES } from './versions-schema.js';

export type { CrossFieldRule } from './cross-field-rule.js';

/** Every kind of `spec.triggers` entry. */
const TRIGGER_KINDS = ['nats', 'schedule', ...SOURCE_KINDS];

const MAX_TIMEOUT_MS = 3_600_000;
const MAX_BACKOFF_MS = 24 * 3_600_000;
const MAX_RETAIN_MS = 8760 * 3_600_000;

type Backoff = NonNullable<FunctionSpec['async']>['backoff'];
/** Both durations well formed; otherwise the schema's pattern reports it and the rule stays quiet. */
const backoffMs = (b: Backoff): [number, number] | undefined =>
  isDuration(b.initial) && isDuration(b.max) ? [parseDuration(b.initial), parseDuration(b.max)] : undefined;

const isContainer = (spec: FunctionSpec): boolean => spec.runtime === 'container';

export const CROSS_FIELD_RULES: readonly CrossFieldRule[] = [
  rule<FunctionSpec>({
    at: '',
    field: 'source',
    cel: 'has(self.image) != has(self.source)',
    message: 'exactly one of image and source must be set',
    holds: (spec) => (spec.image === undefined) !== (spec.source === undefined),
  }),
  // What only a container function has, and what it cannot have.
  ...(['command', 'port', 'readiness'] as const).map((field) =>
    rule<FunctionSpec>({
      at: '',
      field,
      cel: `self.runtime == 'container' || !has(self.${field})`,
      message: 'is only for runtime container',
      holds: (spec) => isContainer(spec) || spec[field] === undefined,
    }),
  ),
  rule<FunctionSpec>({
    at: '',
    field: 'command',
    cel: "self.runtime != 'container' || has(self.image) || has(self.command)",
    message: 'is required for runtime container without an image: the program that serves HTTP on $PORT',
    holds: (spec) => !isContainer(spec) || spec.image !== undefined || spec.command !== undefined,
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'source.inline',
    cel: "self.runtime != 'container' || !has(self.source) || !has(self.source.inline)",
    message: 'needs a runtime to load it: a container function runs an image, or command in source.path',
    holds: (spec) => !isContainer(spec) || spec.source?.inline === undefined,
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'state.enabled',
    cel: "self.runtime != 'container' || !has(self.state) || !self.state.enabled",
    message: 'ctx.state needs a Nimbus runtime (node20); a container function has none',
    holds: (spec) => !isContainer(spec) || spec.state?.enabled !== true,
  }),
  // A destination names one target: a Function or a subject.
  ...(['onSuccess', 'onFailure'] as const).flatMap((when) => [
    rule<Destination>({
      at: `destinations.${when}`,
      field: '',
      cel: 'has(self.function) != has(self.subject)',
      message: 'exactly one of function and subject must be set',
      holds: (d) => (d.function === undefined) !== (d.subject === undefined),
    }),
    rule<Destination>({
      at: `destinations.${when}`,
      field: 'subject',
      cel: "!has(self.subject) || !(self.subject.startsWith('nimbus.') || self.subject.startsWith('_INBOX.'))",
      message: 'is reserved: Nimbus and NATS keep nimbus.> and _INBOX.>',
      holds: (d) => d.subject === undefined || !/^(nimbus|_INBOX)\./.test(d.subject),
    }),
  ]),
  rule<Readiness>({
    at: 'readiness',
    field: '',
    cel: 'has(self.httpGet) != has(self.tcpSocket)',
    message: 'exactly one of httpGet and tcpSocket must be set',
    holds: (readiness) => 'httpGet' in readiness !== 'tcpSocket' in readiness,
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'handler',
    cel: "self.runtime == 'python3.11' || !self.handler.matches('\\\\.py\\\\.[^.]+$')",
    message: 'names a .py module, which needs runtime python3.11',
    holds: (spec) => spec.runtime === 'python3.11' || !/\.py\.[^.]+$/.test(spec.handler ?? ''),
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'handler',
    cel: "self.runtime != 'python3.11' || !self.handler.matches('\\\\.(mjs|cjs|js)\\\\.[^.]+$')",
    message: 'names a JavaScript module; a python3.11 handler is <module>.<function> of a .py module',
    holds: (spec) => spec.runtime !== 'python3.11' || !/\.(mjs|cjs|js)\.[^.]+$/.test(spec.handler ?? ''),
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'timeout',
    cel: "duration(self.timeout) > duration('0s') && duration(self.timeout) <= duration('1h')",
    message: 'must be more than 0s and at most 1h',
    holds: (spec) => {
      if (!isDuration(spec.timeout)) return true; // the schema's pattern reports it
      const ms = parseDuration(spec.timeout);
      return ms > 0 && ms <= MAX_TIMEOUT_MS;
    },
  }),
  rule<FunctionSource>({
    at: 'source',
    field: '',
    cel: 'has(self.inline) != has(self.path)',
    message: 'exactly one of inline and path must be set',
    holds: (source) => (source.inline === undefined) !== (source.path === undefined),
  }),
  rule<FunctionSpec['scale']>({
    at: 'scale',
    field: 'min',
    cel: 'self.min <= self.max',
    message: 'min must not exceed max',
    holds: (scale) => scale.min <= scale.max,
  }),
  rule<EnvVar>({
    at: 'env',
    field: 'name',
    cel: "!self.name.startsWith('NIMBUS_')",
    message: 'names starting with NIMBUS_ are reserved',
    holds: (variable) => !variable.name.startsWith('NIMBUS_'),
  }),
  rule<Backoff>({
    at: 'async.backoff',
    field: 'initial',
    cel: "duration(self.initial) > duration('0s') && duration(self.initial) <= duration(self.max)",
    message: 'must be more than 0s and at most max',
    holds: (backoff) => {
      const ms = backoffMs(backoff);
      return ms === undefined || (ms[0] > 0 && ms[0] <= ms[1]);
    },
  }),
  rule<Backoff>({
    at: 'async.backoff',
    field: 'max',
    cel: "duration(self.max) <= duration('24h')",
    message: 'must be at most 24h',
    holds: (backoff) => {
      const ms = backoffMs(backoff);
      return ms === undefined || ms[1] <= MAX_BACKOFF_MS;
    },
  }),
  rule<FunctionState>({
    at: 'state',
    field: 'retainFor',
    cel: "!has(self.retainFor) || !has(self.deletionPolicy) || self.deletionPolicy == 'Retain'",
    message: 'is only for deletionPolicy Retain: Delete deletes the keys at once',
    holds: (state) => state.retainFor === undefined || (state.deletionPolicy ?? 'Retain') === 'Retain',
  }),
  rule<FunctionState>({
    at: 'state',
    field: 'retainFor',
    cel: "!has(self.retainFor) || (duration(self.retainFor) > duration('0s') && duration(self.retainFor) <= duration('8760h'))",
    message: 'must be more than 0s and at most 8760h (a year)',
    holds: (state) => {
      if (state.retainFor === undefined || !isDuration(state.retainFor)) return true;
      const ms = parseDuration(state.retainFor);
      return ms > 0 && ms <= MAX_RETAIN_MS;
    },
  }),
  // The schema's minimum says the same, but the API server compares a whole number (0) with a
  // fractional minimum after truncating it to a whole number, and lets 0 through.
  ...['http.rateLimit', 'http.rateLimit.anonymous', 'http.rateLimit.perCaller'].map((at) =>
    rule<RateLimit>({
      at,
      field: 'requestsPerSecond',
      cel: 'self.requestsPerSecond > 0.0',
      message: 'must be more than 0',
      holds: (limit) => !(typeof limit.requestsPerSecond === 'number' && limit.requestsPerSecond <= 0),
    }),
  ),
  ...HTTP_AUTH_RULES,
  rule<Trigger>({
    at: 'triggers',
    field: '',
    cel: `[${TRIGGER_KINDS.map((k) => `has(self.${k})`).join(', ')}].filter(k, k).size() == 1`,
    message: `exactly one of ${TRIGGER_KINDS.join(', ')} must be set`,
    holds: (trigger) => TRIGGER_KINDS.filter((k) => k in trigger).length === 1,
  }),
  rule<Trigger>({
    at: 'triggers',
    field: 'name',
    cel: `!(${SOURCE_KINDS.map((k) => `has(self.${k})`).join(' || ')}) || has(self.name)`,
    message: 'is required for an event-source trigger',
    holds: (trigger) => sourceKindOf(trigger) === undefined || typeof trigger.name === 'string',
  }),
  rule<FunctionSpec>({
    at: '',
    field: 'triggers',
    cel: '!has(self.triggers) || self.triggers.all(t, !has(t.name) || self.triggers.exists_one(u, has(u.name) && u.name == t.name))',
    message: 'trigger names must be unique',
    holds: (spec) => {
      const names = (spec.triggers ?? []).flatMap((t) => (t.name === undefined ? [] : [t.name]));
      return new Set(names).size === names.length;
    },
  }),
  ...ROUTE_RULES,
  ...VERSION_RULES,
];
