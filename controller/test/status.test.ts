import assert from 'node:assert/strict';
import { type FunctionResource, type FunctionStatus, validateFunction } from '@nimbus/api';
import {
  type ApplyOutcome,
  type FunctionCondition,
  type ObservedDeployment,
  computeStatus,
  readiness,
  sameStatus,
} from '../src/reconcile/status.js';

const APPLIED: ApplyOutcome = { ok: true };
const REFUSED: ApplyOutcome = { ok: false, reason: 'ApplyFailed', message: 'the API server said no' };

/** A Deployment at generation 2 that its controller has seen, wanting `replicas`. */
function deployment(
  replicas: number | undefined,
  status: NonNullable<ObservedDeployment['status']>,
  generation = 2,
): ObservedDeployment {
  return {
    metadata: { generation },
    spec: replicas === undefined ? {} : { replicas },
    status: { observedGeneration: generation, ...status },
  };
}

const healthy = deployment(3, { replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 });

describe('readiness', () => {
  const cases: {
    name: string;
    applied: ApplyOutcome;
    deployment: ObservedDeployment | undefined;
    want: { status: 'True' | 'False'; reason: string; message?: RegExp };
  }[] = [
    {
      name: 'apply failed: its reason and message pass through, whatever the Deployment says',
      applied: REFUSED,
      deployment: healthy,
      want: { status: 'False', reason: 'ApplyFailed', message: /^the API server said no$/ },
    },
    {
      name: 'no Deployment yet: Deploying',
      applied: APPLIED,
      deployment: undefined,
      want: { status: 'False', reason: 'Deploying' },
    },
    {
      name: 'the Deployment controller has not seen the latest generation: Deploying',
      applied: APPLIED,
      deployment: { ...healthy, metadata: { generation: 3 } },
      want: { status: 'False', reason: 'Deploying', message: /not seen/ },
    },
    {
      name: 'no status at all on a Deployment with a generation: Deploying',
      applied: APPLIED,
      deployment: { metadata: { generation: 1 }, spec: { replicas: 1 } },
      want: { status: 'False', reason: 'Deploying' },
    },
    {
      name: 'Progressing False: its reason and message',
      applied: APPLIED,
      deployment: deployment(3, {
        updatedReplicas: 1,
        conditions: [
          { type: 'Available', status: 'True' },
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "hello-abc" has timed out progressing.',
          },
        ],
      }),
      want: { status: 'False', reason: 'ProgressDeadlineExceeded', message: /timed out progressing/ },
    },
    {
      name: 'Progressing False without reason or message: defaults',
      applied: APPLIED,
      deployment: deployment(1, { conditions: [{ type: 'Progressing', status: 'False' }] }),
      want: { status: 'False', reason: 'ProgressDeadlineExceeded', message: /not progressing/ },
    },
    {
      name: 'Progressing True does not stand in the way',
      applied: APPLIED,
      deployment: deployment(1, {
        updatedReplicas: 1,
        readyReplicas: 1,
        availableReplicas: 1,
        conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }],
      }),
      want: { status: 'True', reason: 'ReplicasReady' },
    },
    {
      name: 'zero replicas wanted: ScaledToZero, ready',
      applied: APPLIED,
      deployment: deployment(0, {}),
      want: { status: 'True', reason: 'ScaledToZero' },
    },
    {
      name: 'fewer updated replicas than wanted: RollingOut, with the counts',
      applied: APPLIED,
      deployment: deployment(3, { updatedReplicas: 1, readyReplicas: 3, availableReplicas: 3 }),
      want: { status: 'False', reason: 'RollingOut', message: /^1 of 3 replicas/ },
    },
    {
      name: 'no replicas field: one is wanted, and none updated is RollingOut',
      applied: APPLIED,
      deployment: deployment(undefined, {}),
      want: { status: 'False', reason: 'RollingOut', message: /^0 of 1 replicas/ },
    },
    {
      name: 'all updated but none available: NoReadyReplicas',
      applied: APPLIED,
      deployment: deployment(2, { updatedReplicas: 2, readyReplicas: 0, availableReplicas: 0 }),
      want: { status: 'False', reason: 'NoReadyReplicas', message: /none of 2/ },
    },
    {
      name: 'all updated and available: ReplicasReady, with the ready count',
      applied: APPLIED,
      deployment: healthy,
      want: { status: 'True', reason: 'ReplicasReady', message: /^3 of 3 replicas are ready$/ },
    },
    {
      name: 'all updated and one of several available: ready already',
      applied: APPLIED,
      deployment: deployment(3, { updatedReplicas: 3, readyReplicas: 1, availableReplicas: 1 }),
      want: { status: 'True', reason: 'ReplicasReady', message: /^1 of 3/ },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const got = readiness(c.applied, c.deployment);
      assert.equal(got.status, c.want.status);
      assert.equal(got.reason, c.want.reason);
      if (c.want.message !== undefined) assert.match(got.message, c.want.message);
      assert.notEqual(got.message, '');
    });
  }
});

const NOW = new Date('2024-05-01T12:34:56.789Z');
const NOW_TEXT = '2024-05-01T12:34:56Z';
const EARLIER = '2024-04-30T08:00:00Z';
const GATEWAY = 'http://gateway.nimbus.svc:8080';

function fn(generation: number | undefined, conditions?: FunctionCondition[]): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', uid: 'uid-1' },
    spec: { source: { inline: 'export default () => 1' } },
  });
  assert.ok(result.ok, JSON.stringify(result));
  const value = result.value;
  return {
    ...value,
    metadata: { ...value.metadata, ...(generation === undefined ? {} : { generation }) },
    ...(conditions === undefined ? {} : { status: { conditions } }),
  };
}

function conditionOf(status: FunctionStatus, type: string): FunctionCondition {
  const found = status.conditions?.find((c) => c.type === type);
  assert.ok(found !== undefined, `no ${type} condition in ${JSON.stringify(status)}`);
  return found as FunctionCondition;
}

describe('computeStatus', () => {
  it('reports the generation it saw, on the status and on each condition', () => {
    const status = computeStatus(fn(4), APPLIED, healthy, GATEWAY, NOW);
    assert.equal(status.observedGeneration, 4);
    assert.deepEqual(
      (status.conditions as FunctionCondition[]).map((c) => [c.type, c.observedGeneration]),
      [
        ['Ready', 4],
        ['Deployed', 4],
      ],
    );
  });

  it('leaves observedGeneration out when the Function has no generation', () => {
    const status = computeStatus(fn(undefined), APPLIED, healthy, GATEWAY, NOW);
    assert.equal('observedGeneration' in status, false);
    for (const c of status.conditions ?? []) assert.equal('observedGeneration' in c, false);
  });

  describe('url', () => {
    const cases = [
      { name: 'a gateway URL without a trailing slash', gateway: GATEWAY },
      { name: 'a trailing slash is trimmed', gateway: `${GATEWAY}/` },
      { name: 'several trailing slashes are trimmed', gateway: `${GATEWAY}///` },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const status = computeStatus(fn(1), APPLIED, healthy, c.gateway, NOW);
        assert.equal(status.url, 'http://gateway.nimbus.svc:8080/function/hello.team');
      });
    }
  });

  describe('replica counts', () => {
    const cases: { name: string; deployment: ObservedDeployment | undefined; want: [number, number] }[] = [
      {
        name: 'from the Deployment status',
        deployment: deployment(3, { replicas: 3, readyReplicas: 2 }),
        want: [3, 2],
      },
      { name: '0 and 0 without a Deployment', deployment: undefined, want: [0, 0] },
      { name: '0 and 0 for a Deployment without status', deployment: { metadata: {} }, want: [0, 0] },
      {
        name: '0 for counts the status leaves out',
        deployment: deployment(1, { replicas: 1 }),
        want: [1, 0],
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const status = computeStatus(fn(1), APPLIED, c.deployment, GATEWAY, NOW);
        assert.deepEqual([status.replicas, status.readyReplicas], c.want);
      });
    }
  });

  describe('conditions', () => {
    it('take Ready from a load failure in place of the Deployment, and list its HandlerLoaded', () => {
      const starting = deployment(1, { replicas: 1, updatedReplicas: 1, readyReplicas: 0 });
      const failure = { status: 'False' as const, reason: 'HandlerLoadFailed', message: 'SyntaxError: x' };
      const ready = { status: 'False' as const, reason: 'HandlerLoadFailed', message: 'generic' };
      const status = computeStatus(
        fn(1),
        APPLIED,
        starting,
        GATEWAY,
        NOW,
        undefined,
        [['HandlerLoaded', failure]],
        ready,
      );
      assert.deepEqual(
        status.conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
        [
          ['Ready', 'False', 'HandlerLoadFailed', 'generic'],
          ['Deployed', 'True', 'Applied', 'the ConfigMap, Deployment and Service are applied'],
          ['HandlerLoaded', 'False', 'HandlerLoadFailed', 'SyntaxError: x'],
        ],
      );
      assert.equal(
        conditionOf(computeStatus(fn(1), APPLIED, starting, GATEWAY, NOW), 'Ready').reason,
        'NoReadyReplicas',
      );
    });

    it('are Ready then Deployed; Deployed True Applied after a good apply', () => {
      const status = computeStatus(fn(1), APPLIED, healthy, GATEWAY, NOW);
      assert.deepEqual(
        status.conditions?.map((c) => [c.type, c.status, c.reason]),
        [
          ['Ready', 'True', 'ReplicasReady'],
          ['Deployed', 'True', 'Applied'],
        ],
      );
    });

    it('add StateReady after them when state is reported, and leave it out otherwise', () => {
      const ready = {
        status: 'True' as const,
        reason: 'UserReady',
        message: 'Redis user u may use only the keys p*',
      };
      const withState = computeStatus(fn(2), APPLIED, healthy, GATEWAY, NOW, ready);
      assert.deepEqual(
        withState.conditions?.map((c) => [c.type, c.status, c.reason]),
        [
          ['Ready', 'True', 'ReplicasReady'],
          ['Deployed', 'True', 'Applied'],
          ['StateReady', 'True', 'UserReady'],
        ],
      );
      assert.equal(conditionOf(withState, 'StateReady').observedGeneration, 2);
      const down = { status: 'False' as const, reason: 'RedisUnavailable', message: 'connect ECONNREFUSED' };
      const later = new Date(NOW.getTime() + 60_000);
      const failing = computeStatus({ ...fn(2), status: withState }, APPLIED, healthy, GATEWAY, later, down);
      assert.deepEqual(
        [conditionOf(failing, 'StateReady').status, conditionOf(failing, 'StateReady').reason],
        ['False', 'RedisUnavailable'],
      );
      assert.equal(conditionOf(failing, 'Ready').status, 'True', 'the function still serves');
      assert.notEqual(
        conditionOf(failing, 'StateReady').lastTransitionTime,
        conditionOf(withState, 'StateReady').lastTransitionTime,
      );
      assert.equal(computeStatus(fn(2), APPLIED, healthy, GATEWAY, NOW).conditions?.length, 2);
    });

    it("a failed apply makes both False with the apply's reason", () => {
      const status = computeStatus(fn(1), REFUSED, healthy, GATEWAY, NOW);
      for (const type of ['Ready', 'Deployed']) {
        const c = conditionOf(status, type);
        assert.deepEqual([c.status, c.reason, c.message], ['False', 'ApplyFailed', 'the API server said no']);
      }
    });

    const cases: { name: string; before: FunctionCondition[] | undefined; want: string }[] = [
      { name: 'a first condition is stamped now, to the second, in UTC', before: undefined, want: NOW_TEXT },
      {
        name: 'an unchanged status keeps its time',
        before: [{ type: 'Ready', status: 'True', reason: 'ReplicasReady', lastTransitionTime: EARLIER }],
        want: EARLIER,
      },
      {
        name: 'a new reason under the same status keeps its time',
        before: [{ type: 'Ready', status: 'True', reason: 'ScaledToZero', lastTransitionTime: EARLIER }],
        want: EARLIER,
      },
      {
        name: 'a changed status is stamped now',
        before: [{ type: 'Ready', status: 'False', reason: 'RollingOut', lastTransitionTime: EARLIER }],
        want: NOW_TEXT,
      },
      {
        name: 'Unknown to True is a change',
        before: [{ type: 'Ready', status: 'Unknown', lastTransitionTime: EARLIER }],
        want: NOW_TEXT,
      },
      {
        name: 'an unchanged status without a time is stamped now',
        before: [{ type: 'Ready', status: 'True', reason: 'ReplicasReady' }],
        want: NOW_TEXT,
      },
      {
        name: "another condition's time is not borrowed",
        before: [{ type: 'Deployed', status: 'True', lastTransitionTime: EARLIER }],
        want: NOW_TEXT,
      },
    ];
    for (const c of cases) {
      it(`Ready's lastTransitionTime: ${c.name}`, () => {
        const status = computeStatus(fn(1, c.before), APPLIED, healthy, GATEWAY, NOW);
        assert.equal(conditionOf(status, 'Ready').lastTransitionTime, c.want);
      });
    }

    it('each condition keeps or moves its own time', () => {
      const before: FunctionCondition[] = [
        { type: 'Ready', status: 'True', lastTransitionTime: EARLIER },
        { type: 'Deployed', status: 'True', lastTransitionTime: EARLIER },
      ];
      const status = computeStatus(fn(1, before), APPLIED, undefined, GATEWAY, NOW);
      assert.equal(conditionOf(status, 'Ready').lastTransitionTime, NOW_TEXT);
      assert.equal(conditionOf(status, 'Deployed').lastTransitionTime, EARLIER);
    });
  });

  it('is pure: the same inputs give the same status, and the Function is not modified', () => {
    const input = fn(2, [{ type: 'Ready', status: 'False', lastTransitionTime: EARLIER }]);
    const copy = structuredClone(input);
    const a = computeStatus(input, APPLIED, healthy, GATEWAY, NOW);
    const b = computeStatus(input, APPLIED, healthy, GATEWAY, NOW);
    assert.deepEqual(a, b);
    assert.deepEqual(input, copy);
  });

  it('computed twice across a transition, the second status equals the first (no endless writes)', () => {
    const first = computeStatus(fn(2), APPLIED, healthy, GATEWAY, NOW);
    const later = new Date(NOW.getTime() + 60_000);
    const second = computeStatus({ ...fn(2), status: first }, APPLIED, healthy, GATEWAY, later);
    assert.equal(sameStatus(first, second), true);
  });
});

describe('sameStatus', () => {
  const base: FunctionStatus = {
    observedGeneration: 2,
    conditions: [
      { type: 'Ready', status: 'True', reason: 'ReplicasReady', message: 'm', lastTransitionTime: EARLIER },
      { type: 'Deployed', status: 'True', reason: 'Applied', message: 'm', lastTransitionTime: EARLIER },
    ],
    replicas: 1,
    readyReplicas: 1,
    url: `${GATEWAY}/function/hello.team`,
  };
  const cases: { name: string; a: FunctionStatus | undefined; b: FunctionStatus; want: boolean }[] = [
    { name: 'the same status', a: base, b: structuredClone(base), want: true },
    {
      name: 'equal statuses written with keys in another order',
      a: base,
      b: {
        url: base.url,
        readyReplicas: 1,
        replicas: 1,
        conditions: [
          {
            lastTransitionTime: EARLIER,
            message: 'm',
            reason: 'ReplicasReady',
            status: 'True',
            type: 'Ready',
          },
          { message: 'm', lastTransitionTime: EARLIER, type: 'Deployed', reason: 'Applied', status: 'True' },
        ],
        observedGeneration: 2,
      },
      want: true,
    },
    { name: 'no status yet', a: undefined, b: base, want: false },
    { name: 'another observedGeneration', a: base, b: { ...base, observedGeneration: 3 }, want: false },
    { name: 'another readyReplicas', a: base, b: { ...base, readyReplicas: 0 }, want: false },
    {
      name: 'another url',
      a: base,
      b: { ...base, url: 'http://elsewhere/function/hello.team' },
      want: false,
    },
    {
      name: 'a condition with another message',
      a: base,
      b: {
        ...base,
        conditions: [
          { ...(base.conditions?.[0] as FunctionCondition), message: 'x' },
          ...(base.conditions?.slice(1) ?? []),
        ],
      },
      want: false,
    },
    { name: 'a field missing', a: base, b: { ...base, url: undefined }, want: false },
  ];
  for (const c of cases) {
    it(`${c.want ? 'same' : 'not same'}: ${c.name}`, () => {
      assert.equal(sameStatus(c.a, c.b), c.want);
    });
  }
});
