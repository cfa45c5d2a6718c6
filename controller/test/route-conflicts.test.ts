import assert from 'node:assert/strict';
import type { FunctionResource, HttpRoute } from '@nimbus/api';
import { RouteConflicts } from '../src/reconcile/route-conflicts.js';

const fn = (name: string, created: string, routes?: HttpRoute[]): FunctionResource =>
  ({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'team', creationTimestamp: created },
    spec: { http: { auth: 'none', ...(routes === undefined ? {} : { routes }) } },
  }) as FunctionResource;

describe('RouteConflicts', () => {
  it('tells the later Function which route it lost and to whom, and the earlier one that it holds its routes', () => {
    const functions = [
      fn('late', '2026-01-02T00:00:00Z', [{ path: '/o/{b}' }]),
      fn('early', '2026-01-01T00:00:00Z', [{ path: '/o/{a}', methods: ['GET'] }]),
      fn('plain', '2026-01-01T00:00:00Z'),
    ];
    const conflicts = new RouteConflicts({ list: () => functions });
    const late = conflicts.verdict(functions[0] as FunctionResource);
    assert.equal(late?.status, 'False');
    assert.equal(late?.reason, 'RouteConflict');
    assert.match(
      late?.message ?? '',
      /route any method \/o\/\{b\} \(spec\.http\.routes\[0\]\) is held by Function team\/early/,
    );
    assert.equal(conflicts.verdict(functions[1] as FunctionResource)?.status, 'True');
    assert.equal(conflicts.verdict(functions[2] as FunctionResource), undefined, 'no routes, no condition');
  });

  it('names the others with routes to reconcile when one changes, and works the claims out again', () => {
    const functions = [
      fn('late', '2026-01-02T00:00:00Z', [{ path: '/o/{b}' }]),
      fn('early', '2026-01-01T00:00:00Z', [{ path: '/o/{a}' }]),
    ];
    const conflicts = new RouteConflicts({ list: () => functions });
    assert.equal(conflicts.verdict(functions[0] as FunctionResource)?.status, 'False');
    const gone = functions.pop() as FunctionResource;
    assert.deepEqual(conflicts.changed(gone), ['team/late']);
    assert.equal(conflicts.verdict(functions[0] as FunctionResource)?.status, 'True');
    assert.deepEqual(
      conflicts.changed(fn('plain', '2026-01-01T00:00:00Z')),
      [],
      'a Function without routes touches no other',
    );
  });
});
