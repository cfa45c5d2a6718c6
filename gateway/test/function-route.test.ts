import assert from 'node:assert/strict';
import type { FunctionResource, FunctionStatus } from '@nimbus/api';
import {
  NOT_READY_YET,
  loadFailedOf,
  routeSettingsOf,
  unavailableReasonOf,
} from '../src/cluster/function-route.js';

const fn = (spec: Record<string, unknown>, status?: FunctionStatus): FunctionResource =>
  ({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'f', namespace: 'ns' },
    spec,
    ...(status === undefined ? {} : { status }),
  }) as unknown as FunctionResource;

describe('routeSettingsOf', () => {
  const cases: [string, Record<string, unknown>, { timeoutMs: number; concurrency: number; auth: string }][] =
    [
      [
        'from the spec',
        { timeout: '1m30s', concurrency: 3, http: { auth: 'key' } },
        { timeoutMs: 90_000, concurrency: 3, auth: 'key' },
      ],
      [
        'milliseconds',
        { timeout: '500ms', concurrency: 1, http: { auth: 'none' } },
        { timeoutMs: 500, concurrency: 1, auth: 'none' },
      ],
      ["the CRD's defaults for what is missing", {}, { timeoutMs: 30_000, concurrency: 50, auth: 'none' }],
      [
        'a timeout that is not a duration falls back',
        { timeout: 'soon' },
        { timeoutMs: 30_000, concurrency: 50, auth: 'none' },
      ],
    ];
  for (const [name, spec, expected] of cases) {
    it(name, () => {
      const { timeoutMs, concurrency, auth } = routeSettingsOf(fn(spec));
      assert.deepEqual({ timeoutMs, concurrency, auth }, expected);
    });
  }
});

describe('unavailableReasonOf', () => {
  const cases: [string, FunctionStatus | undefined, string][] = [
    ['no status yet', undefined, NOT_READY_YET],
    ['no conditions', { replicas: 0 }, NOT_READY_YET],
    [
      'Ready False: its message',
      {
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'SourceTooLarge',
            message: 'spec.source.inline is too big',
          },
        ],
      },
      'spec.source.inline is too big',
    ],
    [
      'Ready Unknown: its message',
      { conditions: [{ type: 'Ready', status: 'Unknown', message: 'waiting for the Deployment' }] },
      'waiting for the Deployment',
    ],
    ['Ready False without a message', { conditions: [{ type: 'Ready', status: 'False' }] }, NOT_READY_YET],
    [
      'Ready True (the gateway has not seen the slices yet)',
      { conditions: [{ type: 'Ready', status: 'True', message: 'all good' }] },
      NOT_READY_YET,
    ],
    [
      'other conditions are not the reason',
      { conditions: [{ type: 'Scaled', status: 'False', message: 'not this' }] },
      NOT_READY_YET,
    ],
  ];
  for (const [name, status, expected] of cases) {
    it(name, () => assert.equal(unavailableReasonOf(fn({}, status)), expected));
  }
});

describe('loadFailedOf', () => {
  const ready = (status: 'True' | 'False', reason: string): FunctionStatus => ({
    conditions: [{ type: 'Ready', status, reason, message: 'm' }],
  });
  const cases: [string, FunctionStatus | undefined, boolean][] = [
    ['no status', undefined, false],
    ['Ready False, HandlerLoadFailed: answer at once', ready('False', 'HandlerLoadFailed'), true],
    ['Ready False, replicas starting: hold', ready('False', 'NoReadyReplicas'), false],
    ['Ready True', ready('True', 'HandlerLoadFailed'), false],
    [
      'HandlerLoaded False alone is not Ready',
      { conditions: [{ type: 'HandlerLoaded', status: 'False', reason: 'HandlerLoadFailed' }] },
      false,
    ],
  ];
  for (const [name, status, expected] of cases) {
    it(name, () => assert.equal(loadFailedOf(fn({}, status)), expected));
  }
});
