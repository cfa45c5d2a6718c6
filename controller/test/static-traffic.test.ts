import assert from 'node:assert/strict';
import { type FunctionResource, validateFunction } from '@nimbus/api';
import {
  missingTrafficVersion,
  resolveTraffic,
  staticTrafficPlanner,
} from '../src/versions/static-traffic.js';
import type { VersionSyncResult } from '../src/versions/version-sync.js';
import { versionedVerdicts } from '../src/versions/versioned-status.js';

function fn(spec: Record<string, unknown> = {}, status?: FunctionResource['status']): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', uid: 'uid-1' },
    spec: { source: { inline: 'export default () => 1' }, versions: { keep: 5 }, ...spec },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return status === undefined ? result.value : { ...result.value, status };
}

const NOW = Date.parse('2026-12-07T12:00:00Z');

describe('static traffic planner', () => {
  it('gives every call to the latest version without spec.traffic', () => {
    const plan = staticTrafficPlanner.plan(fn(), 'v3', ['v3', 'v2', 'v1'], NOW);
    assert.deepEqual(plan, { traffic: [{ version: 'v3', percent: 100 }] });
  });

  it('resolves spec.traffic, latestVersion to the latest, tags kept', () => {
    const f = fn({
      traffic: [
        { version: 'v1', percent: 90 },
        { latestVersion: true, percent: 10, tag: 'canary' },
      ],
    });
    const plan = staticTrafficPlanner.plan(f, 'v3', ['v3', 'v1'], NOW);
    assert.deepEqual(plan.traffic, [
      { version: 'v1', percent: 90 },
      { version: 'v3', percent: 10, tag: 'canary' },
    ]);
    assert.equal(plan.rollout, undefined);
    assert.equal(plan.requeueAfterMs, undefined);
  });

  it('ignores spec.rollout: without the driver all calls go to the latest', () => {
    const f = fn({ rollout: { steps: [{ percent: 10 }] } });
    assert.deepEqual(staticTrafficPlanner.plan(f, 'v2', ['v2', 'v1'], NOW).traffic, [
      { version: 'v2', percent: 100 },
    ]);
  });

  it('names the first spec.traffic entry whose version is not kept', () => {
    const f = fn({
      traffic: [
        { version: 'v1', percent: 50 },
        { version: 'v7', percent: 50 },
      ],
    });
    const missing = missingTrafficVersion(f, 'v3', ['v3', 'v1']);
    assert.match(missing ?? '', /spec\.traffic\[1\] names version v7/);
    assert.equal(missingTrafficVersion(f, 'v7', ['v7', 'v1']), undefined);
    assert.equal(missingTrafficVersion(fn(), 'v1', ['v1']), undefined);
    assert.deepEqual(resolveTraffic([{ latestVersion: true, percent: 100 }], 'v4'), [
      { version: 'v4', percent: 100 },
    ]);
  });
});

describe('versioned status', () => {
  it('keeps the previous traffic and says TrafficVersionNotFound while spec.traffic names a version not kept', () => {
    const previous = [{ version: 'v1', percent: 100 }];
    const sync: VersionSyncResult = {
      latest: 'v2',
      history: {
        latest: 'v2',
        versions: [
          { name: 'v2', number: 2, revision: 'bbb', createdAt: 't2' },
          { name: 'v1', number: 1, revision: 'aaa', createdAt: 't1' },
        ],
      },
      deployments: new Map(),
      traffic: previous,
      trafficNotFound: {
        status: 'False',
        reason: 'TrafficVersionNotFound',
        message: 'spec.traffic[0] names v9',
      },
    };
    const verdicts = versionedVerdicts(fn({}, { traffic: previous }), sync, { ok: true }, undefined);
    assert.equal(verdicts.ready.reason, 'TrafficVersionNotFound');
    assert.deepEqual(verdicts.status?.traffic, previous);
    assert.equal(verdicts.status?.latestVersion, 'v2');
    assert.deepEqual(
      verdicts.status?.versions.map((v) => [v.name, v.percent]),
      [
        ['v2', 0],
        ['v1', 100],
      ],
    );
  });

  it('keeps what status said of versions when the apply failed', () => {
    const before = {
      latestVersion: 'v1',
      versions: [
        { name: 'v1', revision: 'aaa', createdAt: 't1', replicas: 1, readyReplicas: 1, percent: 100 },
      ],
      traffic: [{ version: 'v1', percent: 100 }],
      replicas: 1,
      readyReplicas: 1,
    };
    const verdicts = versionedVerdicts(
      fn({}, before),
      undefined,
      { ok: false, reason: 'ApplyRefused', message: 'no' },
      undefined,
    );
    assert.equal(verdicts.ready.status, 'False');
    assert.equal(verdicts.ready.reason, 'ApplyRefused');
    assert.deepEqual(verdicts.status?.traffic, before.traffic);
    assert.equal(verdicts.status?.latestVersion, 'v1');
  });

  it('writes the plan’s RolledOut condition', () => {
    const sync: VersionSyncResult = {
      latest: 'v1',
      history: { latest: 'v1', versions: [{ name: 'v1', number: 1, revision: 'aaa', createdAt: 't1' }] },
      deployments: new Map(),
      traffic: [{ version: 'v1', percent: 100 }],
      plan: {
        traffic: [{ version: 'v1', percent: 100 }],
        condition: { status: 'True', reason: 'Promoted', message: 'v1 takes every call' },
      },
    };
    const verdicts = versionedVerdicts(fn(), sync, { ok: true }, undefined);
    assert.equal(verdicts.rolledOut?.reason, 'Promoted');
  });
});
