import assert from 'node:assert/strict';
import { type FunctionResource, validateFunction } from '@nimbus/api';
import {
  ADOPTED_LABEL,
  POOL_LABEL,
  adoptionPatch,
  buildPoolDeployment,
  poolTokenOf,
  poolable,
  specialisation,
} from '../src/resources/pool.js';

const settings = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  gatewayUrl: 'http://gw.nimbus.svc',
  runAsUser: 10001,
};

function fn(spec: Record<string, unknown>): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', uid: 'uid-1' },
    spec,
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

describe('the warm pool’s builders', () => {
  const inline = { source: { inline: 'export default () => 1' } };
  const cases: [string, Record<string, unknown>, boolean][] = [
    ['inline code', inline, true],
    ['its own image', { image: 'registry.example/hello:1' }, false],
    ['secrets to mount', { ...inline, secrets: ['token'] }, false],
    ['state, whose token is mounted', { ...inline, state: { enabled: true } }, false],
    ['state turned off', { ...inline, state: { enabled: false } }, true],
  ];
  for (const [what, spec, expected] of cases) {
    it(`a function with ${what} ${expected ? 'can' : 'cannot'} take a pool pod over`, () =>
      assert.equal(poolable(fn(spec)), expected));
  }

  it('the pool Deployment: generic pods, Ready while generic, the token in their env and readable back', () => {
    const d = buildPoolDeployment('team', settings, 2, 'a-token-of-forty-eight-hex-characters-000000000');
    assert.equal(d.metadata.name, 'nimbus-pool-node20');
    assert.equal(d.metadata.namespace, 'team');
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.selector.matchLabels, { [POOL_LABEL]: 'node20' });
    assert.equal(d.spec.template.metadata.labels['app.kubernetes.io/managed-by'], 'nimbus');
    const container = d.spec.template.spec.containers[0];
    assert.equal(container?.image, settings.runtimeImage);
    assert.equal(container?.env.find((e) => e.name === 'NIMBUS_POOL')?.value, '1');
    assert.equal(container?.readinessProbe.httpGet.path, '/_/health');
    assert.equal(container?.securityContext.readOnlyRootFilesystem, true);
    assert.equal(poolTokenOf(d), 'a-token-of-forty-eight-hex-characters-000000000');
    assert.equal(poolTokenOf(undefined), undefined);
  });

  it('what a pool pod is sent: the function’s env with the platform’s settings, and its code at the handler’s path', () => {
    const f = fn({
      source: { inline: 'export const hello = () => 1' },
      handler: 'lib/greet.hello',
      env: [{ name: 'GREETING', value: 'hi' }],
    });
    const { env, files } = specialisation(f, settings);
    assert.equal(env.GREETING, 'hi');
    assert.equal(env.NIMBUS_HANDLER, 'lib/greet.hello');
    assert.equal(env.NIMBUS_FUNCTION_NAME, 'hello');
    assert.equal(env.NIMBUS_GATEWAY_URL, settings.gatewayUrl);
    assert.deepEqual(files, { 'lib/greet.mjs': 'export const hello = () => 1' });
  });

  it('the adoption patch moves the pod out of the pool into the function, owned by it', () => {
    const patch = adoptionPatch(fn(inline)) as {
      metadata: { labels: Record<string, string | null>; ownerReferences: { kind: string; uid: string }[] };
    };
    assert.equal(patch.metadata.labels[POOL_LABEL], null);
    assert.equal(patch.metadata.labels[ADOPTED_LABEL], 'true');
    assert.equal(patch.metadata.labels['nimbus.dev/function'], 'hello');
    assert.deepEqual(
      patch.metadata.ownerReferences.map((o) => [o.kind, o.uid]),
      [['Function', 'uid-1']],
    );
  });
});
