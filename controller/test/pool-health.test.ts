import assert from 'node:assert/strict';
import { type PoolPodFault, type PoolPodView, poolPodFault } from '../src/pool/pool-health.js';
import { FUNCTION_LABEL } from '../src/resources/metadata.js';
import { ADOPTED_LABEL, POOL_LABEL } from '../src/resources/metadata.js';

type Status = NonNullable<NonNullable<PoolPodView['status']>['containerStatuses']>[number];

const generic = { [POOL_LABEL]: 'node20', 'app.kubernetes.io/managed-by': 'nimbus' };
const adopted = {
  [FUNCTION_LABEL]: 'hello',
  [ADOPTED_LABEL]: 'true',
  'app.kubernetes.io/managed-by': 'nimbus',
};

const running = { running: { startedAt: '2026-12-06T10:00:00Z' } };
const crashLoop = { waiting: { reason: 'CrashLoopBackOff' } };
const exited = { terminated: { exitCode: 1, reason: 'Error' } };

function pod(
  labels: Record<string, string>,
  runtime: Partial<Status> | undefined,
  deleting = false,
): PoolPodView {
  return {
    metadata: { labels, ...(deleting ? { deletionTimestamp: '2026-12-06T10:00:00Z' } : {}) },
    status:
      runtime === undefined
        ? {}
        : {
            containerStatuses: [
              { name: 'function', ready: false, restartCount: 0, ...runtime },
              // Another container's state never decides (there is none today; a sidecar may come).
              { name: 'sidecar', ready: false, restartCount: 9, state: crashLoop },
            ],
          },
  };
}

describe('which warm-pool pods the controller replaces', () => {
  const cases: [string, PoolPodView, PoolPodFault | undefined][] = [
    ['a generic pod starting (no status yet)', pod(generic, undefined), undefined],
    ['a generic pod running, not ready yet, never restarted', pod(generic, { state: running }), undefined],
    ['a generic pod ready', pod(generic, { ready: true, state: running }), undefined],
    [
      'a generic pod ready after a restart (a runtime that kept its token)',
      pod(generic, { ready: true, restartCount: 2, state: running }),
      undefined,
    ],
    ['a generic pod in CrashLoopBackOff', pod(generic, { restartCount: 3, state: crashLoop }), 'crash-loop'],
    [
      'a generic pod in CrashLoopBackOff before its first restart is counted',
      pod(generic, { restartCount: 0, state: crashLoop }),
      'crash-loop',
    ],
    [
      'a generic pod restarted, running again but not ready',
      pod(generic, { restartCount: 1, state: running }),
      'restarted',
    ],
    ['a generic pod whose runtime exited, not yet restarted', pod(generic, { state: exited }), 'exited'],
    [
      'a generic pod in CrashLoopBackOff already being deleted',
      pod(generic, { restartCount: 3, state: crashLoop }, true),
      undefined,
    ],
    [
      'a pod a function took over, in CrashLoopBackOff',
      pod(adopted, { restartCount: 3, state: crashLoop }),
      undefined,
    ],
    [
      'a pod with the function label but the pool label still on (mid-relabel)',
      pod({ ...generic, [FUNCTION_LABEL]: 'hello' }, { restartCount: 1, state: crashLoop }),
      undefined,
    ],
    [
      'a pod with the adopted label and the pool label',
      pod({ ...generic, [ADOPTED_LABEL]: 'true' }, { restartCount: 1, state: crashLoop }),
      undefined,
    ],
    [
      'a function’s own pod (no pool label) in CrashLoopBackOff',
      pod({ [FUNCTION_LABEL]: 'hello' }, { restartCount: 3, state: crashLoop }),
      undefined,
    ],
    ['a pod with no labels', { metadata: {}, status: {} }, undefined],
  ];
  for (const [what, view, expected] of cases) {
    it(`${what}: ${expected === undefined ? 'kept' : `replaced (${expected})`}`, () =>
      assert.equal(poolPodFault(view), expected));
  }
});
