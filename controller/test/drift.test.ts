import assert from 'node:assert/strict';
import { firstDifference } from '../src/reconcile/drift.js';

const container = { name: 'function', image: 'runtime:1', env: [{ name: 'A', value: '1' }] };
const desired = {
  metadata: { name: 'hello', labels: { app: 'hello' } },
  spec: { replicas: 2, template: { spec: { containers: [container] } } },
};

/** `desired` with one container field replaced. */
const withContainer = (patch: Record<string, unknown>) => ({
  ...desired,
  spec: { ...desired.spec, template: { spec: { containers: [{ ...container, ...patch }] } } },
});

describe('firstDifference', () => {
  const cases: { name: string; desired: unknown; observed: unknown; want: string | undefined }[] = [
    { name: 'equal objects: none', desired, observed: structuredClone(desired), want: undefined },
    {
      name: 'fields only the server or other managers set: none',
      desired,
      observed: {
        ...structuredClone(desired),
        status: { replicas: 2 },
        metadata: { ...desired.metadata, resourceVersion: '7', annotations: { other: 'tool' } },
        spec: {
          ...desired.spec,
          strategy: { type: 'RollingUpdate' },
          template: {
            spec: {
              containers: [{ ...container, imagePullPolicy: 'IfNotPresent' }],
              dnsPolicy: 'ClusterFirst',
            },
          },
        },
      },
      want: undefined,
    },
    {
      name: 'a differing nested scalar: its dotted path',
      desired,
      observed: { ...desired, spec: { ...desired.spec, replicas: 3 } },
      want: 'spec.replicas',
    },
    {
      name: 'a differing scalar inside a list: the path with the index',
      desired,
      observed: withContainer({ image: 'runtime:2' }),
      want: 'spec.template.spec.containers[0].image',
    },
    {
      name: 'a differing scalar in a list inside a list',
      desired,
      observed: withContainer({ env: [{ name: 'A', value: '2' }] }),
      want: 'spec.template.spec.containers[0].env[0].value',
    },
    {
      name: 'a label changed: its key in the path',
      desired,
      observed: { ...desired, metadata: { ...desired.metadata, labels: { app: 'other' } } },
      want: 'metadata.labels.app',
    },
    {
      name: 'a list one item longer on the server: the list itself',
      desired,
      observed: withContainer({
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
      }),
      want: 'spec.template.spec.containers[0].env',
    },
    {
      name: 'a list one item shorter on the server: the list itself',
      desired,
      observed: withContainer({ env: [] }),
      want: 'spec.template.spec.containers[0].env',
    },
    {
      name: 'the first difference in field order is the one named',
      desired,
      observed: { metadata: { name: 'other', labels: { app: 'other' } }, spec: { replicas: 9 } },
      want: 'metadata.name',
    },
    {
      name: 'false desired, missing on the server: none',
      desired: { a: false },
      observed: {},
      want: undefined,
    },
    { name: '0 desired, missing on the server: none', desired: { a: 0 }, observed: {}, want: undefined },
    { name: "'' desired, missing on the server: none", desired: { a: '' }, observed: {}, want: undefined },
    { name: '[] desired, missing on the server: none', desired: { a: [] }, observed: {}, want: undefined },
    { name: '{} desired, missing on the server: none', desired: { a: {} }, observed: {}, want: undefined },
    {
      name: 'zero values deep inside, missing on the server: none',
      desired: { spec: { volumes: [{ name: 'tmp', emptyDir: {} }], paused: false } },
      observed: { spec: { volumes: [{ name: 'tmp' }] } },
      want: undefined,
    },
    {
      name: 'true desired, missing on the server: its path',
      desired: { a: { b: true } },
      observed: { a: {} },
      want: 'a.b',
    },
    { name: '1 desired, missing on the server: its path', desired: { a: 1 }, observed: {}, want: 'a' },
    { name: "'x' desired, missing on the server: its path", desired: { a: 'x' }, observed: {}, want: 'a' },
    { name: 'a non-empty list desired, missing: its path', desired: { a: [1] }, observed: {}, want: 'a' },
    { name: 'a non-empty map desired, missing: its path', desired: { a: { b: 1 } }, observed: {}, want: 'a' },
    {
      name: 'false desired, true on the server: its path',
      desired: { a: false },
      observed: { a: true },
      want: 'a',
    },
    { name: '0 desired, 1 on the server: its path', desired: { a: 0 }, observed: { a: 1 }, want: 'a' },
    {
      name: 'a zero value desired, null on the server: its path',
      desired: { a: 0 },
      observed: { a: null },
      want: 'a',
    },
    {
      name: 'an undefined desired field is not compared',
      desired: { a: undefined },
      observed: { a: 5 },
      want: undefined,
    },
    {
      name: 'an object desired, a scalar observed: its path',
      desired: { a: { b: 1 } },
      observed: { a: 'b' },
      want: 'a',
    },
    {
      name: 'an object desired, null observed: its path',
      desired: { a: { b: 1 } },
      observed: { a: null },
      want: 'a',
    },
    {
      name: 'an object desired, a list observed: its path',
      desired: { a: { b: 1 } },
      observed: { a: [1] },
      want: 'a',
    },
    {
      name: 'a scalar desired, an object observed: its path',
      desired: { a: 'b' },
      observed: { a: { b: 1 } },
      want: 'a',
    },
    {
      name: 'a list desired, an object observed: its path',
      desired: { a: [1] },
      observed: { a: { 0: 1 } },
      want: 'a',
    },
    {
      name: 'a number desired, the same digits as text: its path',
      desired: { a: 1 },
      observed: { a: '1' },
      want: 'a',
    },
    { name: 'differing top-level scalars: "."', desired: 'a', observed: 'b', want: '.' },
    { name: 'top-level lists of different length: "."', desired: [1, 2], observed: [1], want: '.' },
    { name: 'a difference in a top-level list: its index', desired: [1, 2], observed: [1, 3], want: '[1]' },
    { name: 'an object desired, nothing observed: "."', desired: { a: 1 }, observed: undefined, want: '.' },
  ];

  for (const c of cases) {
    it(c.name, () => {
      assert.equal(firstDifference(c.desired, c.observed), c.want);
    });
  }
});
