import assert from 'node:assert/strict';
import { type FunctionResource, validateFunction } from '@nimbus/api';
import { wantedPools } from '../src/pool/pool-reconciler.js';

const images = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  pythonRuntimeImage: 'nimbus/runtime-python:0.1.0',
};
const NODE = { source: { inline: 'export default () => 1' }, scale: { min: 0 } };
const PYTHON = {
  runtime: 'python3.11',
  source: { inline: 'def handle(e, c):\n    return 1\n' },
  scale: { min: 0 },
};

function fn(
  name: string,
  spec: Record<string, unknown>,
  namespace = 'team',
  deleting = false,
): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace, uid: `uid-${name}` },
    spec,
  });
  assert.ok(result.ok, JSON.stringify(result));
  return deleting
    ? { ...result.value, metadata: { ...result.value.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }
    : result.value;
}

describe('wantedPools: which runtimes’ warm pools a namespace keeps', () => {
  const cases: {
    name: string;
    functions: FunctionResource[];
    images?: { runtimeImage: string; pythonRuntimeImage?: string };
    size?: number;
    wanted: string[];
  }[] = [
    { name: 'no function', functions: [], wanted: [] },
    { name: 'a Node function at zero', functions: [fn('a', NODE)], wanted: ['node20'] },
    { name: 'a Python function at zero', functions: [fn('p', PYTHON)], wanted: ['python3.11'] },
    {
      name: 'one of each at zero: a pool per runtime',
      functions: [fn('a', NODE), fn('p', PYTHON)],
      wanted: ['node20', 'python3.11'],
    },
    {
      name: 'a Python function with no runtime-python image in the cluster',
      functions: [fn('a', NODE), fn('p', PYTHON)],
      images: { runtimeImage: images.runtimeImage },
      wanted: ['node20'],
    },
    { name: 'pool size 0', functions: [fn('a', NODE), fn('p', PYTHON)], size: 0, wanted: [] },
    {
      name: 'a versioned Function at zero: its versions wake from the pool too',
      functions: [fn('v', { ...NODE, versions: { keep: 3 } })],
      wanted: ['node20'],
    },
    {
      name: 'a versioned Python function with state',
      functions: [fn('v', { ...PYTHON, versions: { keep: 3 }, state: { enabled: true } })],
      wanted: [],
    },
    {
      name: 'a Python function with a replica always up',
      functions: [fn('p', { ...PYTHON, scale: { min: 1 } })],
      wanted: [],
    },
    {
      name: 'a Python function with state (its token cannot be mounted later)',
      functions: [fn('p', { ...PYTHON, state: { enabled: true } })],
      wanted: [],
    },
    { name: 'a Python function being deleted', functions: [fn('p', PYTHON, 'team', true)], wanted: [] },
    { name: 'a Python function in another namespace', functions: [fn('p', PYTHON, 'other')], wanted: [] },
    {
      name: 'a container function at zero',
      functions: [fn('c', { runtime: 'container', image: 'registry.example/server:1', scale: { min: 0 } })],
      wanted: [],
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.wanted.length === 0 ? 'none' : c.wanted.join(' and ')}`, () =>
      assert.deepEqual(
        [...wantedPools('team', c.functions, c.images ?? images, c.size ?? 1)].sort(),
        c.wanted,
      ));
  }
});
